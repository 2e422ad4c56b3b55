"""`gate merge` (decide over shards) and `gate promote` (move an alias only on PASS)."""

from __future__ import annotations

from pathlib import Path

import click

from gate.cli.app import cli
from gate.cli.options import tracking_options
from gate.cli.output import exit_for, log, present


@cli.command("promote")
@click.option("--model", required=True, help="Registered model name.")
@click.option("--version", "model_version", required=True, help="The version to promote.")
@click.option("--alias", default="production", show_default=True)
@click.option(
    "--fingerprint",
    required=True,
    help="Fingerprint of the checkpoint being promoted (gate check's output).",
)
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    required=True,
    help="MLflow tracking URI [env: MLFLOW_TRACKING_URI].",
)
def promote_command(
    model: str, model_version: str, alias: str, fingerprint: str, tracking_uri: str
) -> None:
    """Move an alias to a version only if its gate verdict is PASS and the fingerprint matches.

    Exit 0 when moved, 1 when refused (the reason is printed), 3 when MLflow fails.
    """
    from gate.publish.tracking import promote

    moved, message = promote(
        tracking_uri=tracking_uri,
        model=model,
        version=model_version,
        alias=alias,
        fingerprint=fingerprint,
    )
    click.echo(message if moved else f"refused: {message}", err=not moved)
    click.get_current_context().exit(0 if moved else 1)


@cli.command("merge")
@click.argument(
    "folders", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@tracking_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("gate-out"),
    show_default=True,
    help="Folder for result.json, report.md, verdict.json.",
)
def merge_command(
    folders: tuple[Path, ...],
    tracking_uri: str | None,
    no_tracking: bool,
    force: bool,
    registered_model: str | None,
    model_version: str | None,
    register: bool,
    out: Path,
) -> None:
    """Combine the outputs of `gate eval --shard i/n` and decide. Exit codes as `gate check`."""
    from gate.pipeline.check import PublishOptions
    from gate.pipeline.commands import merge_shards

    tracking = {
        "uri": tracking_uri,
        "registered_model": registered_model,
        "enabled": False if no_tracking else None,
    }
    verdict = merge_shards(
        folders,
        out,
        tracking,
        PublishOptions(force=force, version=model_version, register=register),
        present=present,
        log=log,
    )
    exit_for(verdict)
