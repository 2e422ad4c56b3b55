"""Flags shared by several commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gate.errors import InputError
from gate.files import default_cache_dir

if TYPE_CHECKING:
    from gate.similarity.embed import EmbeddingCache
    from gate.similarity.examples import Fields

F = TypeVar("F", bound=Callable[..., Any])


def cache_options(command: F) -> F:
    """--cache-dir, shared by every command that loads models or embeds text."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default_cache_dir(),
        show_default=True,
        envvar="GATE_CACHE_DIR",
        help="Where converted GGUF weights, file hashes and embeddings are kept.",
    )(command)


def over_refusal_options(command: F) -> F:
    """--over-refusal and its limit: the output's refusals of benign prompts, in the manifest."""
    command = click.option(
        "--over-refusal-limit",
        type=click.IntRange(min=1),
        help="Ask this many of its prompts (a stratified sample) [default: all].",
    )(command)
    return click.option(
        "--over-refusal",
        metavar="BENCHMARK",
        help="Measure how often the output refuses these benign prompts (benign-edgy, a file), "
        "against the model it came from; the figures go in the manifest.",
    )(command)


def over_refusal_line(manifest: dict[str, Any]) -> str:
    """`; over-refusal 0.100 -> 0.350 [...] on ...` when the command measured it."""
    from gate.evaluation.probe import describe

    figures = manifest.get("over_refusal")
    return f"; {describe(figures)}" if figures else ""


def field_options(command: F) -> F:
    """Where the conversation is in each record of a dataset."""
    for option in reversed(
        [
            click.option("--prompt-field", default="prompt", show_default=True),
            click.option("--response-field", default="response", show_default=True),
            click.option(
                "--messages-field",
                default="messages",
                show_default=True,
                help="Chat messages list; used instead of prompt/response when present.",
            ),
        ]
    ):
        command = option(command)
    return command


def fields_from(prompt_field: str, response_field: str, messages_field: str) -> Fields:
    from gate.similarity.examples import Fields

    return Fields(prompt=prompt_field, response=response_field, messages=messages_field)


def open_cache(cache_dir: Path, enabled: bool) -> EmbeddingCache | None:
    from gate.similarity.embed import EmbeddingCache

    return EmbeddingCache(cache_dir / "embeddings.sqlite") if enabled else None


no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Compute everything again; neither read nor write cached generations or embeddings.",
)


def _flag(param: click.Parameter) -> str:
    return param.opts[0] if param.opts else f"--{param.name}"


def csv_numbers(kind: type) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    """A click callback: comma-separated numbers, at least one (an empty list would run nothing)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            parsed = [kind(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise InputError(
                f"{_flag(param)}: expected comma-separated numbers, got {value!r}"
            ) from None
        if not parsed:
            raise InputError(f"{_flag(param)}: expected comma-separated numbers, got none")
        return parsed

    return parse


def csv_names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """A click callback: comma-separated names, at least one."""
    if value is None:
        return None
    parsed = [part.strip() for part in value.split(",") if part.strip()]
    if not parsed:
        raise InputError(f"{_flag(param)}: expected comma-separated names, got {value!r}")
    return parsed


def reject_blank(flags: Mapping[str, Any]) -> None:
    """A flag given as an empty string is a mistake (an unset variable), never a default."""
    for key, value in flags.items():
        if isinstance(value, str) and not value.strip():
            raise InputError(f"--{key.replace('_', '-')} is empty")


def tracking_options(command: F) -> F:
    """MLflow and registry flags of `gate check` and `gate merge`."""
    for option in reversed(
        [
            click.option(
                "--tracking-uri",
                help="MLflow tracking URI [default: [tracking] uri, MLFLOW_TRACKING_URI, "
                "or sqlite in the outputs folder].",
            ),
            click.option("--no-tracking", is_flag=True, help="Do not log to MLflow."),
            click.option(
                "--force", is_flag=True, help="Log a new MLflow run even if these inputs have one."
            ),
            click.option(
                "--registered-model", help="Registered model whose version gets the verdict tags."
            ),
            click.option("--version", "model_version", help="That model's version to tag."),
            click.option(
                "--register", is_flag=True, help="Register the checkpoint as a new version."
            ),
        ]
    ):
        command = option(command)
    return command


def _key_values(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    from gate.cli.output import key_values

    return key_values(value, "--embedder-option")


embedder_option_flag = click.option(
    "--embedder-option",
    "embedder_options",
    multiple=True,
    callback=_key_values,
    metavar="KEY=VALUE",
    help="An option of the embedder, repeatable: for openai, base_url=, served_model=, "
    "fingerprint= or weights=, max_concurrency=, batch_size=, api_key_env=.",
)
