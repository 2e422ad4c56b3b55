"""After a decision: reports, MLflow and the registry, Slack, GitHub; then the exit code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gate.errors import GateError

if TYPE_CHECKING:
    from gate.check import CheckOutcome, CheckResult
    from gate.config import GateConfig


def publish(
    config: GateConfig,
    outcome: CheckOutcome,
    out_dir: Path,
    force: bool,
    version: str | None,
    register: bool,
) -> None:
    """After a decision: reports, MLflow, registry, Slack, GitHub; then exit 0 (PASS) or 1."""
    from rich.console import Console

    from gate.errors import GateError
    from gate.policy import Decision, Verdict
    from gate.report import check_summary, verdict_table, write_check, write_verdict

    write_check(out_dir, outcome)
    result = outcome.result
    run_id, run_url, where = "", None, ""
    if config.tracking.enabled:
        try:
            run_id, run_url, where = _track(config, result, out_dir, force, version, register)
        except GateError as exc:  # unrecorded means undecided: never PASS
            write_verdict(out_dir, Verdict.failed(str(exc)))
            raise
    if result.verdict.decision is Decision.BLOCK and config.slack.webhook_env:
        _notify_slack(config.slack.webhook_env, result, run_url, version)
    Console().print(verdict_table(result.verdict))
    click.echo(check_summary(result))
    _publish_to_github(out_dir, result, run_id)
    click.echo(f"wrote {out_dir / 'report.md'} and {out_dir / 'result.json'}", err=True)
    if where:
        click.echo(where, err=True)
    click.get_current_context().exit(0 if result.verdict.decision is Decision.PASS else 1)


def _track(
    config: GateConfig,
    result: CheckResult,
    out_dir: Path,
    force: bool,
    version: str | None,
    register: bool,
) -> tuple[str, str | None, str]:
    """Log to MLflow and tag the registry version; returns the run id, a link, and where it is."""
    from gate.tracking import log_check, tag_version

    uri = (
        config.tracking.uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{(out_dir / 'mlflow.db').resolve()}"
    )
    tags = {}
    server, repo, run = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        tags["gate.github_run_url"] = f"{server}/{repo}/actions/runs/{run}"
    if os.environ.get("GITHUB_SHA"):
        tags["gate.git_commit"] = os.environ["GITHUB_SHA"]
    run_id, reused = log_check(
        result,
        out_dir,
        tracking_uri=uri,
        experiment=config.tracking.experiment,
        force=force,
        extra_tags=tags,
    )
    where = f"MLflow run {run_id} ({'reused: same inputs' if reused else 'logged'}) at {uri}"
    if uri.startswith("sqlite:"):
        where += f"\nopen it with: mlflow ui --backend-store-uri {uri}"
    model = config.tracking.registered_model
    if model and (version or register):
        tagged = tag_version(
            result, run_id, tracking_uri=uri, model=model, version=version, register=register
        )
        click.echo(f"tagged {model} version {tagged} with the verdict", err=True)
    link = tags.get("gate.github_run_url")
    if link is None and uri.startswith(("http://", "https://")):
        link = f"{uri.rstrip('/')}/#/runs/{run_id}"
    return run_id, link, where


def _notify_slack(
    variable: str, result: CheckResult, run_url: str | None, version: str | None
) -> None:
    """Post the BLOCK to Slack; a failed delivery is reported but does not change the verdict."""
    from gate.slack import build_message, send

    webhook = os.environ.get(variable)
    if not webhook:
        click.echo(f"warning: ${variable} is not set; no Slack message sent", err=True)
        return
    try:
        send(webhook, build_message(result, run_url=run_url, model_version=version))
    except GateError as exc:
        click.echo(f"warning: {exc}", err=True)
        return
    click.echo("posted the verdict to Slack", err=True)


def _publish_to_github(out_dir: Path, result: CheckResult, run_id: str = "") -> None:
    """In GitHub Actions: the markdown report into the job summary, the verdict into outputs."""
    from gate.reports.github import append_outputs, append_summary

    summary, outputs = os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT")
    if summary:
        append_summary(Path(summary), (out_dir / "report.md").read_text(encoding="utf-8"))
    if outputs:
        append_outputs(
            Path(outputs),
            {
                "verdict": result.verdict.decision.value,
                "hs": f"{result.scores.harmful_score.value:.4f}",
                "run_id": run_id,
                "fingerprint": result.candidate.fingerprint,
                "report": str(out_dir / "report.md"),
            },
        )
