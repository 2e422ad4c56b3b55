"""`gate init` and `gate check`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from gate.cli.app import cli
from gate.cli.options import cache_options, csv_numbers, no_cache_option, tracking_options
from gate.cli.output import backend_option, exit_for, key_values, log, present

T = TypeVar("T")

if TYPE_CHECKING:
    pass


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
    from gate.errors import InputError
    from gate.files import atomic_open
    from gate.template import TEMPLATE

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
@backend_option
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
    backend_options: tuple[str, ...],
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
    from gate.pipeline.check import PublishOptions, check

    if config_path is None and Path("gate.toml").is_file():
        config_path = Path("gate.toml")
    source = click.get_current_context().get_parameter_source("cache_dir")
    overrides = {
        "model.path": model,
        "model.adapter": adapter,
        **{f"model.{k}": v for k, v in key_values(backend_options, "--backend-option").items()},
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
    verdict = check(
        load_config(config_path, overrides),
        PublishOptions(force=force, version=model_version, register=register),
        present=present,
        log=log,
        use_cache=not no_cache,
        early_stopping=False if no_early_stop else None,
    )
    exit_for(verdict)
