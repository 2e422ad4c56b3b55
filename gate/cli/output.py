"""What the commands share after parsing: KEY=VALUE options, showing a verdict, its exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # `gate --help` must not pay for the records' imports (numpy, pydantic models)
    from gate.records.result import GateResult
    from gate.records.verdict import Verdict

F = TypeVar("F", bound=Callable[..., Any])


def log(line: str) -> None:
    """Progress and diagnostics go to stderr, so stdout stays the report."""
    click.echo(line, err=True)


def key_values(items: tuple[str, ...], flag: str) -> dict[str, Any]:
    """`KEY=VALUE` items as a dict; a value is read as TOML (`4`, `true`, `"x"`), else a string."""
    from gate.errors import InputError
    from gate.tomlfile import tomllib

    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {item!r} is not KEY=VALUE")
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = text  # a bare word: take it as a string
    return parsed


def backend_option(command: F) -> F:
    """`--backend-option KEY=VALUE`, validated by the chosen backend's own options model."""
    return click.option(
        "--backend-option",
        "backend_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="A generation-backend option (TOML value), e.g. dtype=bfloat16 or "
        'base_url="http://vllm:8000/v1"; repeatable. Validated by the backend.',
    )(command)


def present(result: GateResult) -> None:
    """The verdict table and the one-line summary on stdout."""
    from rich.console import Console

    from gate.publish.console import check_summary, verdict_table

    Console().print(verdict_table(result.decided()))
    click.echo(check_summary(result))


def exit_for(verdict: Verdict) -> None:
    """Exit 0 for PASS, 1 for BLOCK (an ERROR never gets here: it raised)."""
    from gate.records.verdict import Decision

    click.get_current_context().exit(0 if verdict.decision is Decision.PASS else 1)
