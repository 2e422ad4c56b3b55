"""The `gate` command line: parse flags, call a stage, print, map errors to exit codes."""

from __future__ import annotations

import os
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


@cli.command("eval")
@click.option(
    "--model",
    required=True,
    help="Model folder, .gguf file, hub id, or embedded:smollm2-135m-instruct.",
)
@click.option(
    "--adapter",
    type=click.Path(file_okay=False, path_type=Path),
    help="PEFT LoRA adapter folder to apply on top of --model.",
)
@click.option(
    "--benchmark",
    required=True,
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
    default="keyword",
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
    default=16,
    show_default=True,
    help="Prompts per forward pass; halves automatically on out-of-memory.",
)
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    default="auto",
    show_default=True,
    help="auto: float32 on CPU, bf16/fp16 on GPU.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--load-in-4bit", is_flag=True, help="Quantise to 4-bit with bitsandbytes (CUDA).")
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
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE_DIR,
    show_default=True,
    envvar="GATE_CACHE_DIR",
    help="Where converted GGUF weights and file hashes are kept.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for result.json and generations.jsonl.",
)
def eval_command(
    model: str,
    adapter: Path | None,
    benchmark: str,
    prompt_field: str,
    category_field: str | None,
    limit: int | None,
    judge: str,
    temperature: float,
    top_p: float,
    min_p: float,
    seed: int,
    max_new_tokens: int,
    batch_size: int,
    dtype: str,
    device: str,
    load_in_4bit: bool,
    allow_pickle: bool,
    trust_remote_code: bool,
    cache_dir: Path,
    out: Path,
) -> None:
    """Measure a model's harmful score (HS) on a harmful-prompt benchmark.

    Writes result.json and generations.jsonl to --out and prints HS per category with 95%
    Wilson intervals. Example:

        gate eval --model embedded:smollm2-135m-instruct --benchmark strongreject-small --out out
    """
    from rich.console import Console

    from gate.evaluate import EvalRequest, run_eval
    from gate.generate import Sampling
    from gate.models import ModelSpec
    from gate.report import print_eval, write_eval

    request = EvalRequest(
        model=ModelSpec(
            model=model,
            adapter=str(adapter) if adapter else None,
            cache_dir=cache_dir,
            dtype=dtype,
            device=device,
            load_in_4bit=load_in_4bit,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
        ),
        benchmark=benchmark,
        prompt_field=prompt_field,
        category_field=category_field,
        limit=limit,
        judge=judge,
        sampling=Sampling(
            temperature=temperature,
            top_p=top_p,
            min_p=min_p,
            seed=seed,
            max_new_tokens=max_new_tokens,
        ),
        batch_size=batch_size,
    )
    result, evaluation = run_eval(request, log=lambda line: click.echo(line, err=True))
    path = write_eval(out, result, evaluation.records)
    print_eval(result, Console())
    click.echo(f"wrote {path}", err=True)


def main() -> None:
    """Console-script entry point."""
    # The gate never reaches a hub unless a spec names one; keep transformers from phoning home.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    cli(prog_name="gate", auto_envvar_prefix="GATE")
