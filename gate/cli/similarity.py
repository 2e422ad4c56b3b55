"""`gate similarity` and `gate select`: the fine-tuning data against an alignment index."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from gate.errors import InputError

if TYPE_CHECKING:
    from gate.similarity.index import LoadedIndex
    from gate.similarity.score import SimilarityResult


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
            embedder_option_flag,
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
    from gate.similarity.index import load_index
    from gate.similarity.score import run_similarity

    loaded = load_index(index_dir)
    result = run_similarity(
        loaded,
        finetune,
        fields=fields_from(prompt_field, response_field, messages_field),
        cache_dir=cache_dir,
        cache=open_cache(cache_dir, not no_cache),
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
    embedder_options: dict[str, str],
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
    reject_blank(click.get_current_context().params)
    from rich.console import Console

    from gate.files import atomic_open
    from gate.publish.console import print_similarity

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
        embedder_options=embedder_options,
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
    "--random",
    "at_random",
    type=click.IntRange(min=1),
    help="Take K examples at random (the control arm); see --seed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The draw of --random.")
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
    embedder_options: dict[str, str],
    prompt_field: str,
    response_field: str,
    messages_field: str,
    cache_dir: Path,
    no_cache: bool,
    low: int | None,
    high: int | None,
    at_random: int | None,
    seed: int,
    out: Path,
) -> None:
    """Write the alignment examples least (--low) or most (--high) similar to the fine-tuning data,
    or --random K of them.

    Aligning on the least similar subset made later fine-tuning erode safety less (Hsiung et al.
    2025). Records are written as they were read, ready for an alignment run.
    """
    reject_blank(click.get_current_context().params)
    if sum(count is not None for count in (low, high, at_random)) != 1:
        raise InputError("pass exactly one of --low K, --high K or --random K")
    from gate.similarity.examples import write_records
    from gate.similarity.select import select_rows

    loaded, result = _run_similarity(
        index_dir,
        finetune,
        model,
        prompt_field,
        response_field,
        messages_field,
        cache_dir,
        no_cache,
        embedder_options=embedder_options,
    )
    how, count = next((h, c) for h, c in (("low", low), ("high", high), ("random", at_random))
                      if c is not None)  # fmt: skip
    rows = select_rows(result, how, count, seed)
    which = (
        f"random (seed {seed})"
        if how == "random"
        else f"{'least' if how == 'low' else 'most'} similar"
    )
    write_records(out, [loaded.examples[row] for row in rows])
    scores = [result.alignment_scores[row].max_cosine for row in rows]
    click.echo(
        f"wrote {len(rows)} {which} alignment examples "
        f"(max cosine {min(scores):.3f} to {max(scores):.3f}) to {out}"
    )
