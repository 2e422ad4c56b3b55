"""`gate index build`: a FAISS index over safety-alignment data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gate.cli.app import cli
from gate.cli.options import (
    F,
    cache_options,
    embedder_option_flag,
    field_options,
    fields_from,
    no_cache_option,
    open_cache,
    reject_blank,
)

if TYPE_CHECKING:
    from gate.similarity.index import IndexManifest


def kind_options(command: F) -> F:
    """--kind and the memory budget that `auto` weighs."""
    command = click.option(
        "--memory-budget",
        type=click.FloatRange(min=0.01),
        default=4.0,
        show_default=True,
        metavar="GIB",
        help="Memory the index may take; auto compresses it (IVF-PQ) past this.",
    )(command)
    return click.option(
        "--kind",
        default="auto",
        show_default=True,
        # Checked by choose_kind: a click.Choice here would import the index code (and numpy)
        # into every `gate --help`.
        help="auto, flat, hnsw, ivf, ivfsq or ivfpq. auto: exact search up to 50,000 rows, IVF "
        "above, 8-bit codes (ivfsq) then IVF-PQ past --memory-budget.",
    )(command)


@cli.group("index")
def index_group() -> None:
    """Build FAISS indexes over safety-alignment data."""


@index_group.command("build")
@click.option("--alignment", required=True, help="Alignment data: .jsonl/.csv or hf:owner/name.")
@click.option(
    "--embedder",
    default="minilm",
    show_default=True,
    help="minilm (fast, packaged), hidden-state (the paper's; needs --model) or openai (an "
    "embeddings endpoint; needs --embedder-option base_url= and served_model=).",
)
@embedder_option_flag
@click.option(
    "--model",
    default=None,
    help="Base model for the hidden-state embedder (folder, .gguf, hub id, embedded:).",
)
@kind_options
@click.option(
    "--shard",
    help="Embed only shard i of n (e.g. 2/4) into --out; `gate index merge` builds the index.",
)
@field_options
@cache_options
@no_cache_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Index folder to write (with --shard: the shard's folder).",
)
def index_build_command(
    alignment: str,
    embedder: str,
    embedder_options: dict[str, str],
    model: str | None,
    kind: str,
    memory_budget: float,
    shard: str | None,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    cache_dir: Path,
    no_cache: bool,
    out: Path,
) -> None:
    """Embed the alignment set and build a searchable index with a checksummed manifest."""
    reject_blank(click.get_current_context().params)
    from gate.models import ModelSpec
    from gate.sharding import parse_shard
    from gate.similarity.embed import make_embedder
    from gate.similarity.examples import load_examples
    from gate.similarity.index import build_index
    from gate.similarity.shards import build_shard

    fields = fields_from(prompt_field, response_field, messages_field)
    parsed = parse_shard(shard) if shard else None
    examples = load_examples(alignment, fields)
    click.echo(f"alignment {alignment}: {len(examples.examples)} examples", err=True)
    spec = ModelSpec(model=model, cache_dir=cache_dir) if model else None
    chosen = make_embedder(embedder, cache_dir=cache_dir, model=spec, options=embedder_options)
    cache = open_cache(cache_dir, not no_cache)
    if parsed is not None:
        part = build_shard(
            examples, chosen, cache, shard=parsed, out=out, fields=fields, model=model
        )
        click.echo(
            f"embedded shard {part.shard}/{part.shards}: rows {part.start}..{part.stop - 1} of "
            f"{part.total_rows} ({chosen.id}) in {part.seconds:.1f}s: {out}"
        )
        return
    manifest = build_index(
        examples,
        chosen,
        cache,
        out=out,
        fields=fields,
        kind=kind,
        model=model,
        budget=int(memory_budget * 2**30),
    )
    _built(manifest, out)


@index_group.command("merge")
@click.option("--alignment", required=True, help="The alignment data the shards embedded.")
@click.option(
    "--shards",
    "shard_dirs",
    required=True,
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder written by `gate index build --shard i/n`; repeat for each shard.",
)
@kind_options
@field_options
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Index folder to write.",
)
def index_merge_command(
    alignment: str,
    shard_dirs: tuple[Path, ...],
    kind: str,
    memory_budget: float,
    prompt_field: str,
    response_field: str,
    messages_field: str,
    out: Path,
) -> None:
    """Build the index from the shards of a sharded `gate index build` (all n, each once)."""
    reject_blank(click.get_current_context().params)
    from gate.similarity.examples import load_examples
    from gate.similarity.shards import merge_shards

    examples = load_examples(alignment, fields_from(prompt_field, response_field, messages_field))
    manifest = merge_shards(
        list(shard_dirs), examples, out=out, kind=kind, budget=int(memory_budget * 2**30)
    )
    _built(manifest, out)


def _built(manifest: IndexManifest, out: Path) -> None:
    click.echo(
        f"built {manifest.kind} index of {manifest.rows} rows x {manifest.dim} "
        f"({manifest.embedder_id}, {manifest.memory_bytes / 2**20:,.1f} MiB, recall@10 "
        f"{manifest.recall_at_10:.3f}) in {manifest.build_seconds:.1f}s: {out}"
    )
