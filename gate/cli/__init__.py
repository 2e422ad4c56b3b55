"""The `gate` command line: parse flags, call a stage, print, map errors to exit codes.

One module per command family; importing them registers their commands on the group.
"""

from __future__ import annotations

import os

from gate.cli import (  # noqa: F401
    check,
    evaluation,
    finetune,
    index,
    judge,
    merge,
    plugins,
    repair,
    similarity,
)
from gate.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console-script entry point."""
    # The gate never reaches a hub unless a spec names one; keep transformers from phoning home.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # MLflow retries a dead server for minutes by default; a CI gate should fail within seconds.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    cli(prog_name="gate", auto_envvar_prefix="GATE")
