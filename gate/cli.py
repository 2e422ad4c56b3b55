"""The `gate` command line: parse flags, call a stage, print, map errors to exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gate import __version__
from gate.errors import ExitCode, GateError

if TYPE_CHECKING:
    from gate.check import CheckOutcome, CheckResult
    from gate.config import GateConfig
    from gate.embed import EmbeddingCache
    from gate.examples import Fields
    from gate.index import LoadedIndex
    from gate.similarity import SimilarityResult

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


F = TypeVar("F", bound=Callable[..., Any])


def cache_options(command: F) -> F:
    """--cache-dir, shared by every command that loads models or embeds text."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_CACHE_DIR,
        show_default=True,
        envvar="GATE_CACHE_DIR",
        help="Where converted GGUF weights, file hashes and embeddings are kept.",
    )(command)


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


def _fields(prompt_field: str, response_field: str, messages_field: str) -> Fields:
    from gate.examples import Fields

    return Fields(prompt=prompt_field, response=response_field, messages=messages_field)


def _open_cache(cache_dir: Path, enabled: bool) -> EmbeddingCache | None:
    from gate.embed import EmbeddingCache

    return EmbeddingCache(cache_dir / "embeddings.sqlite") if enabled else None


no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Compute everything again; neither read nor write cached generations or embeddings.",
)


@cli.command("eval")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run gate.toml's plan (seeds x temperatures, base) instead of one setting.",
)
@click.option("--shard", help="With --config: run only shard i of n (e.g. 2/4); see `gate merge`.")
@click.option(
    "--model",
    help="Model folder, .gguf file, hub id, or embedded:smollm2-135m-instruct.",
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
    model: str | None,
    adapter: Path | None,
    benchmark: str | None,
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
    no_cache: bool,
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

    if config_path is not None or shard is not None:
        _eval_shard(config_path, shard, out, no_cache)
        return
    if model is None or benchmark is None:
        raise click.UsageError("pass --model and --benchmark (or --config with --shard)")
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
        use_cache=not no_cache,
    )
    result, evaluation = run_eval(request, log=lambda line: click.echo(line, err=True))
    path = write_eval(out, result, evaluation.records)
    print_eval(result, Console())
    click.echo(f"wrote {path}", err=True)


@cli.group("index")
def index_group() -> None:
    """Build FAISS indexes over safety-alignment data."""


@index_group.command("build")
@click.option("--alignment", required=True, help="Alignment data: .jsonl/.csv or hf:owner/name.")
@click.option(
    "--embedder",
    default="minilm",
    show_default=True,
    help="minilm (fast, packaged) or hidden-state (the paper's; needs --model).",
)
@click.option(
    "--model",
    default=None,
    help="Base model for the hidden-state embedder (folder, .gguf, hub id, embedded:).",
)
@click.option(
    "--kind",
    type=click.Choice(["auto", "flat", "hnsw", "ivf"]),
    default="auto",
    show_default=True,
    help="auto: exact search up to 50,000 rows, IVF above.",
)
@field_options
@cache_options
@no_cache_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Index folder to write.",
)
def index_build_command(
    alignment: str,
    embedder: str,
    model: str | None,
    kind: str,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    cache_dir: Path,
    no_cache: bool,
    out: Path,
) -> None:
    """Embed the alignment set and build a searchable index with a checksummed manifest."""
    from gate.embed import make_embedder
    from gate.examples import load_examples
    from gate.index import build_index
    from gate.models import ModelSpec

    fields = _fields(prompt_field, response_field, messages_field)
    examples = load_examples(alignment, fields)
    click.echo(f"alignment {alignment}: {len(examples.examples)} examples", err=True)
    spec = ModelSpec(model=model, cache_dir=cache_dir) if model else None
    chosen = make_embedder(embedder, cache_dir=cache_dir, model=spec)
    manifest = build_index(
        examples,
        chosen,
        _open_cache(cache_dir, not no_cache),
        out=out,
        fields=fields,
        kind=kind,
        model=model,
    )
    click.echo(
        f"built {manifest.kind} index of {manifest.rows} rows x {manifest.dim} "
        f"({manifest.embedder_id}) in {manifest.build_seconds:.1f}s: {out}"
    )


def _similarity_options(command: F) -> F:
    for option in reversed(
        [
            click.option(
                "--index",
                "index_dir",
                required=True,
                type=click.Path(file_okay=False, path_type=Path),
                help="Folder written by `gate index build`.",
            ),
            click.option(
                "--finetune", required=True, help="Fine-tuning data: .jsonl/.csv or hf:owner/name."
            ),
            click.option(
                "--model",
                default=None,
                help="Base model for a hidden-state index [default: the one it was built with].",
            ),
            field_options,
            cache_options,
            no_cache_option,
        ]
    ):
        command = option(command)
    return command


def _run_similarity(
    index_dir: Path,
    finetune: str,
    model: str | None,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    cache_dir: Path,
    no_cache: bool,
    **scoring: Any,
) -> tuple[LoadedIndex, SimilarityResult]:
    """The similarity run both `similarity` and `select` start from, built from shared flags."""
    from gate.index import load_index
    from gate.similarity import run_similarity

    loaded = load_index(index_dir)
    result = run_similarity(
        loaded,
        finetune,
        fields=_fields(prompt_field, response_field, messages_field),
        cache_dir=cache_dir,
        cache=_open_cache(cache_dir, not no_cache),
        model=model,
        **scoring,
    )
    return loaded, result


@cli.command("similarity")
@_similarity_options
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Alignment neighbours listed per fine-tuning example.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(-1.0, 1.0),
    default=0.7,
    show_default=True,
    help="Cosine at or above which an example counts as highly similar.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for similarity.json.",
)
def similarity_command(
    index_dir: Path,
    finetune: str,
    model: str | None,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    cache_dir: Path,
    no_cache: bool,
    top_k: int,
    threshold: float,
    out: Path,
) -> None:
    """Score how similar fine-tuning data is to the safety-alignment data.

    High similarity predicts that fine-tuning will erode the guardrails (Hsiung et al. 2025).
    """
    from rich.console import Console

    from gate.files import atomic_open
    from gate.report import print_similarity

    _, result = _run_similarity(
        index_dir,
        finetune,
        model,
        prompt_field,
        response_field,
        messages_field,
        cache_dir,
        no_cache,
        top_k=top_k,
        threshold=threshold,
    )
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "similarity.json") as handle:
        handle.write(result.to_json())
    print_similarity(result, Console())
    click.echo(f"wrote {out / 'similarity.json'}", err=True)


@cli.command("select")
@_similarity_options
@click.option("--low", type=click.IntRange(min=1), help="Take the K least similar examples.")
@click.option("--high", type=click.IntRange(min=1), help="Take the K most similar examples.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL file for the selected alignment records.",
)
def select_command(
    index_dir: Path,
    finetune: str,
    model: str | None,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    cache_dir: Path,
    no_cache: bool,
    low: int | None,
    high: int | None,
    out: Path,
) -> None:
    """Write the alignment examples least (--low) or most (--high) similar to the fine-tuning data.

    Aligning on the least similar subset made later fine-tuning erode safety less (Hsiung et al.
    2025). Records are written as they were read, ready for an alignment run.
    """
    if (low is None) == (high is None):
        raise click.UsageError("pass exactly one of --low K or --high K")
    from gate.examples import write_records
    from gate.similarity import select

    loaded, result = _run_similarity(
        index_dir,
        finetune,
        model,
        prompt_field,
        response_field,
        messages_field,
        cache_dir,
        no_cache,
    )
    lowest = low is not None
    rows = select(result, low or high or 0, lowest=lowest)
    write_records(out, [loaded.examples[row] for row in rows])
    scores = [result.alignment_scores[row].max_cosine for row in rows]
    click.echo(
        f"wrote {len(rows)} {'least' if lowest else 'most'} similar alignment examples "
        f"(max cosine {min(scores):.3f} to {max(scores):.3f}) to {out}"
    )


def _publish(
    config: GateConfig,
    outcome: CheckOutcome,
    out_dir: Path,
    force: bool,
    version: str | None,
    register: bool,
) -> None:
    """After a decision: reports, MLflow, registry, Slack, GitHub; then exit 0 (PASS) or 1."""
    from rich.console import Console

    from gate.errors import GateError
    from gate.policy import Decision, Verdict
    from gate.report import check_summary, verdict_table, write_check, write_verdict

    write_check(out_dir, outcome)
    result = outcome.result
    run_id, run_url, where = "", None, ""
    if config.tracking.enabled:
        try:
            run_id, run_url, where = _track(config, result, out_dir, force, version, register)
        except GateError as exc:  # unrecorded means undecided: never PASS
            write_verdict(out_dir, Verdict.failed(str(exc)))
            raise
    if result.verdict.decision is Decision.BLOCK and config.slack.webhook_env:
        _notify_slack(config.slack.webhook_env, result, run_url, version)
    Console().print(verdict_table(result.verdict))
    click.echo(check_summary(result))
    _publish_to_github(out_dir, result, run_id)
    click.echo(f"wrote {out_dir / 'report.md'} and {out_dir / 'result.json'}", err=True)
    if where:
        click.echo(where, err=True)
    click.get_current_context().exit(0 if result.verdict.decision is Decision.PASS else 1)


def _track(
    config: GateConfig,
    result: CheckResult,
    out_dir: Path,
    force: bool,
    version: str | None,
    register: bool,
) -> tuple[str, str | None, str]:
    """Log to MLflow and tag the registry version; returns the run id, a link, and where it is."""
    from gate.tracking import log_check, tag_version

    uri = (
        config.tracking.uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{(out_dir / 'mlflow.db').resolve()}"
    )
    tags = {}
    server, repo, run = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        tags["gate.github_run_url"] = f"{server}/{repo}/actions/runs/{run}"
    if os.environ.get("GITHUB_SHA"):
        tags["gate.git_commit"] = os.environ["GITHUB_SHA"]
    run_id, reused = log_check(
        result,
        out_dir,
        tracking_uri=uri,
        experiment=config.tracking.experiment,
        force=force,
        extra_tags=tags,
    )
    where = f"MLflow run {run_id} ({'reused: same inputs' if reused else 'logged'}) at {uri}"
    if uri.startswith("sqlite:"):
        where += f"\nopen it with: mlflow ui --backend-store-uri {uri}"
    model = config.tracking.registered_model
    if model and (version or register):
        tagged = tag_version(
            result, run_id, tracking_uri=uri, model=model, version=version, register=register
        )
        click.echo(f"tagged {model} version {tagged} with the verdict", err=True)
    link = tags.get("gate.github_run_url")
    if link is None and uri.startswith(("http://", "https://")):
        link = f"{uri.rstrip('/')}/#/runs/{run_id}"
    return run_id, link, where


def _notify_slack(
    variable: str, result: CheckResult, run_url: str | None, version: str | None
) -> None:
    """Post the BLOCK to Slack; a failed delivery is reported but does not change the verdict."""
    from gate.slack import build_message, send

    webhook = os.environ.get(variable)
    if not webhook:
        click.echo(f"warning: ${variable} is not set; no Slack message sent", err=True)
        return
    try:
        send(webhook, build_message(result, run_url=run_url, model_version=version))
    except GateError as exc:
        click.echo(f"warning: {exc}", err=True)
        return
    click.echo("posted the verdict to Slack", err=True)


def _publish_to_github(out_dir: Path, result: CheckResult, run_id: str = "") -> None:
    """In GitHub Actions: the markdown report into the job summary, the verdict into outputs."""
    from gate.reports.github import append_outputs, append_summary

    summary, outputs = os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT")
    if summary:
        append_summary(Path(summary), (out_dir / "report.md").read_text(encoding="utf-8"))
    if outputs:
        append_outputs(
            Path(outputs),
            {
                "verdict": result.verdict.decision.value,
                "hs": f"{result.scores.harmful_score.value:.4f}",
                "run_id": run_id,
                "fingerprint": result.candidate.fingerprint,
                "report": str(out_dir / "report.md"),
            },
        )


def _eval_shard(config_path: Path | None, shard: str | None, out: Path, no_cache: bool) -> None:
    from gate.config import load_config
    from gate.shards import parse_shard, run_shard

    if config_path is None or shard is None:
        raise click.UsageError("--shard and --config go together")
    index, count = parse_shard(shard)
    config = load_config(config_path, {})
    result = run_shard(
        config,
        index,
        count,
        out,
        log=lambda line: click.echo(line, err=True),
        use_cache=not no_cache,
    )
    click.echo(
        f"shard {index}/{count}: {len(result.prompt_ids)} prompts evaluated; "
        f"merge with `gate merge` ({out / 'shard.json'})"
    )


def _csv_numbers(kind: type) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return [kind(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None

    return parse


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
@click.option("--base", help="Base model for ΔHS (overrides [base] path).")
@click.option("--benchmark", help="Benchmark (overrides [benchmark] name).")
@click.option("--limit", type=click.IntRange(min=1), help="Stratified sample of N prompts.")
@click.option("--temperatures", callback=_csv_numbers(float), help="e.g. 0,0.7")
@click.option("--seeds", callback=_csv_numbers(int), help="e.g. 0,1,2")
@click.option("--max-new-tokens", type=click.IntRange(min=1))
@click.option("--batch-size", type=click.IntRange(min=1))
@click.option("--judge", help="Judge name (overrides [judge] name).")
@click.option("--max-harmful-score", type=float, help="Policy threshold on pooled HS.")
@click.option("--decision", type=click.Choice(["conservative", "point"]))
@click.option("--no-early-stop", is_flag=True, help="Run the full plan even when decided early.")
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI [default: [tracking] uri, "
    "MLFLOW_TRACKING_URI, or sqlite in the outputs folder].",
)
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow.")
@click.option("--force", is_flag=True, help="Log a new MLflow run even if these inputs have one.")
@click.option("--registered-model", help="Registered model whose version gets the verdict tags.")
@click.option("--version", "model_version", help="That model's version to tag.")
@click.option("--register", is_flag=True, help="Register the checkpoint as a new version.")
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

    from gate.check import StageError, run_check
    from gate.config import load_config
    from gate.errors import GateError
    from gate.policy import Verdict
    from gate.report import write_verdict

    if config_path is None and Path("gate.toml").is_file():
        config_path = Path("gate.toml")
    source = click.get_current_context().get_parameter_source("cache_dir")
    overrides = {
        "model.path": model,
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
    try:
        outcome = run_check(
            config,
            log=lambda line: click.echo(line, err=True),
            use_cache=not no_cache,
            early_stopping=False if no_early_stop else None,
        )
    except StageError as exc:
        write_verdict(out_dir, Verdict.failed(str(exc)))
        cause = exc.cause
        if isinstance(cause, GateError):  # keep its exit code (2 for bad input), name the stage
            raise type(cause)(f"{exc.stage}: {cause.message}", hint=cause.hint) from cause
        raise
    _publish(config, outcome, out_dir, force, model_version, register)


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
    from gate.tracking import promote

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
@click.option("--tracking-uri", help="MLflow tracking URI (as for `gate check`).")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow.")
@click.option("--force", is_flag=True, help="Log a new MLflow run even if these inputs have one.")
@click.option("--registered-model", help="Registered model whose version gets the verdict tags.")
@click.option("--version", "model_version", help="That model's version to tag.")
@click.option("--register", is_flag=True, help="Register the checkpoint as a new version.")
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
    from gate.policy import Verdict
    from gate.report import write_verdict
    from gate.shards import merge

    try:
        outcome = merge(list(folders), log=lambda line: click.echo(line, err=True))
    except Exception as exc:
        write_verdict(out, Verdict.failed(str(exc)))
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
    _publish(config, outcome, out, force, model_version, register)


def main() -> None:
    """Console-script entry point."""
    # The gate never reaches a hub unless a spec names one; keep transformers from phoning home.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # MLflow retries a dead server for minutes by default; a CI gate should fail within seconds.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    cli(prog_name="gate", auto_envvar_prefix="GATE")
