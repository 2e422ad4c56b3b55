"""`gate index build`: a FAISS index over safety-alignment data."""

from __future__ import annotations

from pathlib import Path

import click

from gate.cli.app import cli
from gate.cli.options import (
    cache_options,
    field_options,
    fields_from,
    no_cache_option,
    open_cache,
    reject_blank,
)


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
    reject_blank(click.get_current_context().params)
    from gate.models import ModelSpec
    from gate.similarity.embed import make_embedder
    from gate.similarity.examples import load_examples
    from gate.similarity.index import build_index

    fields = fields_from(prompt_field, response_field, messages_field)
    examples = load_examples(alignment, fields)
    click.echo(f"alignment {alignment}: {len(examples.examples)} examples", err=True)
    spec = ModelSpec(model=model, cache_dir=cache_dir) if model else None
    chosen = make_embedder(embedder, cache_dir=cache_dir, model=spec)
    manifest = build_index(
        examples,
        chosen,
        open_cache(cache_dir, not no_cache),
        out=out,
        fields=fields,
        kind=kind,
        model=model,
    )
    click.echo(
        f"built {manifest.kind} index of {manifest.rows} rows x {manifest.dim} "
        f"({manifest.embedder_id}) in {manifest.build_seconds:.1f}s: {out}"
    )
