"""The `gate` group and its one error boundary: library errors become a line and an exit code."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click

from gate import __version__
from gate.errors import ExitCode, GateError

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "safety-gate"


class GateGroup(click.Group):
    """Turns library errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except GateError as exc:
            self._report(ctx, f"error: {exc}", exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # the fail-closed boundary: anything unexpected is exit 3
            self._report(ctx, f"internal error: {type(exc).__name__}: {exc}", exc)
            ctx.exit(ExitCode.INFRA)

    @staticmethod
    def _report(ctx: click.Context, line: str, exc: BaseException) -> None:
        if ctx.params.get("debug"):
            traceback.print_exception(exc, file=sys.stderr)
        elif not isinstance(exc, GateError):
            line += " (run with --debug for the traceback)"
        click.echo(line, err=True)


@click.group(cls=GateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="safety-gate")
def cli(debug: bool) -> None:
    """Keep fine-tuned LLMs whose safety guardrails collapsed out of production.

    Exit codes: 0 pass, 1 block, 2 usage or bad input, 3 infrastructure or internal error.
    """
