"""The `gate` group; errors are turned into one line and an exit code by GateGroup."""

from __future__ import annotations

import click

from gate import __version__
from gate.boundary import GateGroup


@click.group(cls=GateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="safety-gate")
def cli(debug: bool) -> None:
    """Keep fine-tuned LLMs whose safety guardrails collapsed out of production.

    Exit codes: 0 pass, 1 block, 2 usage or bad input, 3 infrastructure or internal error.
    """
