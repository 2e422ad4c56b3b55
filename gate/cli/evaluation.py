"""`gate eval`: the harmful score of one checkpoint, or one shard of a gate.toml plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gate.cli.app import cli
from gate.cli.options import cache_options, no_cache_option
from gate.cli.output import backend_option, key_values, log

if TYPE_CHECKING:
    from gate.records.result import GateResult


@cli.command("eval")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run gate.toml's plan (backend, seeds x temperatures, base) instead of one setting; "
    "measures without applying the policy.",
)
@click.option("--shard", help="With --config: run only shard i of n (e.g. 2/4); see `gate merge`.")
@click.option(
    "--model",
    help="Model folder, .gguf file, hub id, or embedded:smollm2-135m-instruct.",
)
@click.option(
    "--backend",
    default="hf",
    show_default=True,
    help="Generation backend; its options come with --backend-option.",
)
@click.option(
    "--adapter",
    type=click.Path(file_okay=False, path_type=Path),
    help="PEFT LoRA adapter folder to apply on top of --model.",
)
@click.option(
    "--benchmark",
    help="strongreject-small, strongreject, harmbench, a .csv/.jsonl file, "
    "or hf:owner/name[:split].",
)
@click.option(
    "--prompt-field",
    default="prompt",
    show_default=True,
    help="Column or key holding the prompt in a CSV/JSONL/hub benchmark.",
)
@click.option(
    "--category-field",
    default=None,
    help="Column or key holding the harm category [default: 'category' if present].",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Evaluate N prompts, sampled across categories in proportion to their size.",
)
@click.option(
    "--judge",
    default="cross",
    show_default=True,
    help="Judge that marks answers harmful.",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="0 is greedy decoding.",
)
@click.option(
    "--top-p",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Nucleus sampling mass (sampling only).",
)
@click.option(
    "--min-p",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.1,
    show_default=True,
    help="Min-p sampling threshold (sampling only).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Prompts per forward pass [default: sized from free memory and prompt length]; "
    "halves on out-of-memory.",
)
@backend_option
@click.option(
    "--allow-pickle",
    is_flag=True,
    help="Allow pickle weights (.bin/.pt/.pth/.ckpt); they can run code when loaded.",
)
@click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Run Python code shipped with the model. Only for models you trust.",
)
@cache_options
@no_cache_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for result.json and generations.jsonl.",
)
def eval_command(
    config_path: Path | None,
    shard: str | None,
    backend_options: tuple[str, ...],
    cache_dir: Path,
    no_cache: bool,
    out: Path,
    **flags: Any,
) -> None:
    """Measure a model's harmful score (HS) on a harmful-prompt benchmark.

    Writes result.json and generations.jsonl to --out and prints HS per category with 95%
    intervals (bootstrap over prompts). Example:

        gate eval --model embedded:smollm2-135m-instruct --benchmark strongreject-small --out out
    """
    if config_path is not None or shard is not None:
        _eval_shard(config_path, shard, out, no_cache)
        return
    if flags["model"] is None or flags["benchmark"] is None:
        raise click.UsageError("pass --model and --benchmark (or --config with --shard)")
    from gate.config import load_config
    from gate.pipeline.commands import evaluate

    overrides = {key: flags[flag] for flag, key in _SETTINGS.items()}
    overrides |= {
        "model.adapter": str(flags["adapter"]) if flags["adapter"] else None,
        **{f"model.{k}": v for k, v in key_values(backend_options, "--backend-option").items()},
        "sampling.temperatures": [flags["temperature"]],
        "sampling.seeds": [flags["seed"]],
        "outputs.cache_dir": str(cache_dir),
        "outputs.dir": str(out),
    }
    _print(evaluate(load_config(None, overrides), out, log=log, use_cache=not no_cache))


# The flags that set one gate.toml key each, as they are.
_SETTINGS = {
    "model": "model.path",
    "backend": "model.backend",
    "allow_pickle": "model.allow_pickle",
    "trust_remote_code": "model.trust_remote_code",
    "benchmark": "benchmark.name",
    "prompt_field": "benchmark.prompt_field",
    "category_field": "benchmark.category_field",
    "limit": "benchmark.limit",
    "judge": "judge.name",
    "top_p": "sampling.top_p",
    "min_p": "sampling.min_p",
    "max_new_tokens": "sampling.max_new_tokens",
    "batch_size": "sampling.batch_size",
}


def _print(result: GateResult) -> None:
    from rich.console import Console

    from gate.publish.console import print_eval

    print_eval(result, Console())


def _eval_shard(config_path: Path | None, shard: str | None, out: Path, no_cache: bool) -> None:
    from gate.config import load_config
    from gate.pipeline.commands import evaluate, evaluate_shard
    from gate.sharding import parse_shard

    if config_path is None:
        raise click.UsageError("--shard needs --config")
    config = load_config(config_path, {})
    if shard is None:  # the whole plan, measured without a policy
        _print(evaluate(config, out, log=log, use_cache=not no_cache))
        return
    index, count = parse_shard(shard)
    result = evaluate_shard(config, index, count, out, log=log, use_cache=not no_cache)
    evaluated = sum(len(ids) for ids in result.prompt_ids.values())
    click.echo(
        f"shard {index}/{count}: {evaluated} prompts evaluated; "
        f"merge with `gate merge` ({out / 'shard.json'})"
    )
