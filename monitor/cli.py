"""The `gate-monitor` command: `serve` runs the service, `check-config` validates a file."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from gate import __version__
from gate.boundary import GateGroup

_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    envvar="GATE_MONITOR_CONFIG",
    help="monitor.toml (see monitor/monitor.example.toml).",
)


@click.group(cls=GateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="gate-monitor")
def cli(debug: bool) -> None:
    """Export the safety gate's scores to Prometheus and alert Slack when they cross thresholds.

    Exit codes: 0 stopped cleanly, 2 bad config, 3 could not start (port taken, ...).
    """


@cli.command("check-config")
@_CONFIG
def check_config(config_path: Path) -> None:
    """Validate a config file and the environment variables it names, then exit."""
    from monitor.config import load_monitor_config

    config = load_monitor_config(config_path)
    click.echo(
        f"{config_path}: ok ({len(config.alerts)} alert rule(s), "
        f"probe {'on' if config.probe else 'off'}, MLflow {config.tracking_uri()})"
    )


@cli.command()
@_CONFIG
@click.option("--host", default=None, help="Listen address [default: from the config].")
@click.option("--port", type=int, default=None, help="Listen port [default: from the config].")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
def serve(config_path: Path, host: str | None, port: int | None, log_level: str) -> None:
    """Poll MLflow (and the probe) on an interval and serve /metrics and /healthz."""
    from prometheus_client.core import REGISTRY

    from monitor.config import load_monitor_config
    from monitor.server import MonitorApp
    from monitor.server import serve as start_server
    from monitor.service import Monitor, mlflow_client_defaults
    from monitor.slack import slack_sender
    from monitor.sources import MlflowSource, Probe

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(message)s")
    # MLflow and its HTTP stack log every retry with the URL; the service logs one line per poll.
    for noisy in ("mlflow", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = load_monitor_config(config_path)
    mlflow_client_defaults(config.mlflow.timeout_seconds)
    sender = None
    if config.slack.webhook_env:
        sender = slack_sender(os.environ[config.slack.webhook_env], config.slack)
    probe = None
    if config.probe is not None:
        probe = Probe(config.probe)
    monitor = Monitor(
        config,
        MlflowSource(config.tracking_uri(), config.mlflow),
        registry=REGISTRY,
        sender=sender,
        probe=probe,
    )
    app = MonitorApp(REGISTRY, monitor.state, ttl=config.server.render_ttl_seconds)
    httpd, _ = start_server(
        app, host or config.server.host, config.server.port if port is None else port
    )
    logging.getLogger("gate-monitor").info(
        "serving http://%s:%d/metrics", host or config.server.host, httpd.server_port
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        monitor.run(stop)
    finally:
        httpd.shutdown()
        httpd.server_close()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="gate-monitor")
