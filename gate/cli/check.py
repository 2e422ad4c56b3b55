"""`gate init`, `gate check`, `gate merge` and `gate promote`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from gate.cli.app import cli
from gate.cli.options import cache_options, csv_numbers, no_cache_option, tracking_options

T = TypeVar("T")

if TYPE_CHECKING:
    from gate.config import GateConfig
    from gate.evaluation.check import Outcome
    from gate.records.verdict import Verdict


@cli.command("init")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("gate.toml"),
    show_default=True,
    help="Where to write the template.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_command(out: Path, force: bool) -> None:
    """Write a commented gate.toml template to start from."""
    from gate.config import TEMPLATE
    from gate.errors import InputError
    from gate.files import atomic_open

    if out.exists() and not force:
        raise InputError(f"{out} already exists", hint="pass --force to overwrite it")
    with atomic_open(out) as handle:
        handle.write(TEMPLATE)
    click.echo(f"wrote {out}; edit [model] and [policy], then run `gate check --config {out}`")


@cli.command("check")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="gate.toml to read [default: ./gate.toml when it exists].",
)
@click.option("--model", help="Candidate model (overrides [model] path).")
@click.option(
    "--adapter",
    help="PEFT adapter applied on top of the candidate (overrides [model] adapter), e.g. the "
    "output of gate finetune.",
)
@click.option("--base", help="Base model for ΔHS (overrides [base] path).")
@click.option("--benchmark", help="Benchmark (overrides [benchmark] name).")
@click.option("--limit", type=click.IntRange(min=1), help="Stratified sample of N prompts.")
@click.option("--temperatures", callback=csv_numbers(float), help="e.g. 0,0.7")
@click.option("--seeds", callback=csv_numbers(int), help="e.g. 0,1,2")
@click.option("--max-new-tokens", type=click.IntRange(min=1))
@click.option("--batch-size", type=click.IntRange(min=1))
@click.option("--judge", help="Judge name (overrides [judge] name).")
@click.option("--max-harmful-score", type=float, help="Policy threshold on pooled HS.")
@click.option("--decision", type=click.Choice(["conservative", "point"]))
@click.option("--no-early-stop", is_flag=True, help="Run the full plan even when decided early.")
@tracking_options
@cache_options
@no_cache_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for result.json, report.md, verdict.json [default: [outputs] dir].",
)
def check_command(
    config_path: Path | None,
    model: str | None,
    adapter: str | None,
    base: str | None,
    benchmark: str | None,
    limit: int | None,
    temperatures: list[float] | None,
    seeds: list[int] | None,
    max_new_tokens: int | None,
    batch_size: int | None,
    judge: str | None,
    max_harmful_score: float | None,
    decision: str | None,
    no_early_stop: bool,
    tracking_uri: str | None,
    no_tracking: bool,
    force: bool,
    registered_model: str | None,
    model_version: str | None,
    register: bool,
    cache_dir: Path,
    no_cache: bool,
    out: Path | None,
) -> None:
    """Decide PASS or BLOCK for a checkpoint. Exit 0 pass, 1 block, 2 bad input, 3 error.

    Runs similarity (when configured), evaluates the candidate (and base) over seeds x
    temperatures with early stopping, computes intervals and applies the policy. Writes
    result.json, report.md, verdict.json and generations.jsonl.
    """
    from gate.config import load_config
    from gate.evaluation.check import run_check

    if config_path is None and Path("gate.toml").is_file():
        config_path = Path("gate.toml")
    source = click.get_current_context().get_parameter_source("cache_dir")
    overrides = {
        "model.path": model,
        "model.adapter": adapter,
        "base.path": base,
        "benchmark.name": benchmark,
        "benchmark.limit": limit,
        "sampling.temperatures": temperatures,
        "sampling.seeds": seeds,
        "sampling.max_new_tokens": max_new_tokens,
        "sampling.batch_size": batch_size,
        "judge.name": judge,
        "policy.max_harmful_score": max_harmful_score,
        "policy.decision": decision,
        "tracking.uri": tracking_uri,
        "tracking.enabled": False if no_tracking else None,
        "tracking.registered_model": registered_model,
        "outputs.dir": str(out) if out else None,
        "outputs.cache_dir": str(cache_dir)
        if source is not click.core.ParameterSource.DEFAULT
        else None,
    }
    config = load_config(config_path, overrides)
    out_dir = Path(config.outputs.dir)
    outcome = failing_closed(
        out_dir,
        lambda: run_check(
            config,
            log=lambda line: click.echo(line, err=True),
            use_cache=not no_cache,
            early_stopping=False if no_early_stop else None,
        ),
    )
    publish_and_exit(
        config,
        outcome,
        out_dir,
        force,
        model_version,
        register,
        repair=True,
        use_cache=not no_cache,
        early_stopping=False if no_early_stop else None,
    )


def failing_closed(out_dir: Path, run: Callable[[], T]) -> T:
    """`run()`, and if it fails, every artefact in `out_dir` says ERROR before the error goes on."""
    from gate.errors import StageError
    from gate.publish.artifacts import write_failure

    try:
        return run()
    except StageError as exc:
        write_failure(out_dir, str(exc))
        raise exc.as_gate_error() from exc.cause
    except BaseException as exc:
        write_failure(out_dir, f"{type(exc).__name__}: {exc}")
        raise


def publish_and_exit(
    config: GateConfig,
    outcome: Outcome,
    out_dir: Path,
    force: bool,
    version: str | None,
    register: bool,
    *,
    repair: bool = False,
    use_cache: bool = True,
    early_stopping: bool | None = None,
) -> None:
    """Publish, print the verdict, and exit 0 for PASS or 1 for BLOCK; with `repair` and
    `[repair] enabled`, a BLOCK is repaired and checked again, and that check decides."""
    from gate.publish.pipeline import publish
    from gate.records.verdict import Decision

    log = lambda line: click.echo(line, err=True)  # noqa: E731
    published = publish(
        config, outcome, out_dir, force=force, version=version, register=register, log=log
    )
    verdict = _print_verdict(outcome, out_dir)
    if repair and config.repair.enabled and verdict.decision is Decision.BLOCK:
        verdict = _repair_and_check(
            config, outcome, out_dir, published.run_id, force, use_cache, early_stopping
        )
    click.get_current_context().exit(0 if verdict.decision is Decision.PASS else 1)


def _print_verdict(outcome: Outcome, out_dir: Path) -> Verdict:
    from rich.console import Console

    from gate.publish.console import check_summary, verdict_table
    from gate.publish.pipeline import fail_closed

    verdict = outcome.result.decided()
    try:
        Console().print(verdict_table(verdict))
        click.echo(check_summary(outcome.result))
    except BaseException as exc:  # even a broken stdout must not leave a PASS behind
        fail_closed(out_dir, exc, outcome.result)
        raise
    return verdict


def _repair_and_check(
    config: GateConfig,
    first: Outcome,
    out_dir: Path,
    first_run_id: str,
    force: bool,
    use_cache: bool,
    early_stopping: bool | None,
) -> Verdict:
    """The closed loop: repair the blocked candidate, check it again, publish with lineage."""
    from gate.publish.pipeline import publish
    from gate.repair.loop import lineage, run_loop, write_comparison

    log = lambda line: click.echo(line, err=True)  # noqa: E731
    check_dir = out_dir / "repair" / "check"
    second_config, second, manifest, check_dir = failing_closed(
        check_dir,
        lambda: run_loop(
            config, out_dir, use_cache=use_cache, early_stopping=early_stopping, log=log
        ),
    )
    publish(
        second_config,
        second,
        check_dir,
        force=force,
        register=bool(config.tracking.registered_model),
        log=log,
        tags=lineage(first_run_id, manifest),
    )
    verdict = _print_verdict(second, check_dir)
    click.echo(write_comparison(out_dir / "repair", first.result, second.result, manifest))
    return verdict


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
    from gate.evaluation.shards import merge
    from gate.publish.artifacts import write_failure

    try:
        outcome = merge(list(folders), log=lambda line: click.echo(line, err=True))
    except BaseException as exc:
        write_failure(out, str(exc))
        raise
    tracking = outcome.config.tracking.model_copy(
        update={
            k: v
            for k, v in {
                "uri": tracking_uri,
                "registered_model": registered_model,
                "enabled": False if no_tracking else None,
            }.items()
            if v is not None
        }
    )
    config = outcome.config.model_copy(update={"tracking": tracking})
    publish_and_exit(config, outcome, out, force, model_version, register)
