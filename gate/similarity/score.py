"""Similarity risk: how close the fine-tuning data sits to the safety-alignment data.

Per fine-tuning example: its top-k alignment neighbours and the max cosine. Per alignment example:
its max cosine to the fine-tuning set (score_i with n = 1 in Hsiung et al. 2025). High similarity
predicts guardrail collapse; the least similar alignment examples are the paper's remedy.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gate.config import SimilaritySection
from gate.errors import InputError
from gate.models import ModelSpec
from gate.similarity import (
    SNIPPET,
    AlignmentScore,
    FinetuneScore,
    Neighbour,
    ScoreSummary,
    SimilarityResult,
    SimilarPair,
)
from gate.similarity.embed import Embedder, EmbeddingCache, embed_texts, make_embedder
from gate.similarity.examples import Example, ExampleSet, Fields, load_examples
from gate.similarity.index import LoadedIndex
from gate.similarity.kinds import (
    build_faiss,
    calibrate,
    choose_kind,
    default_settings,
    reconstructed,
)


def summarize(scores: np.ndarray, threshold: float) -> ScoreSummary:
    """Mean, percentiles, max and the share at or above `threshold`."""
    p50, p90, p99 = np.percentile(scores, [50, 90, 99])
    return ScoreSummary(
        count=int(scores.size),
        mean=float(scores.mean()),
        p50=float(p50),
        p90=float(p90),
        p99=float(p99),
        max=float(scores.max()),
        threshold=threshold,
        share_above=float((scores >= threshold).mean()),
        histogram=[int(c) for c in np.histogram(scores, bins=20, range=(-1.0, 1.0))[0]],
    )


def alignment_max_cosine(
    alignment: Iterable[np.ndarray], finetune: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each alignment row, the max cosine to the fine-tuning rows and which row gives it;
    the alignment rows come a block at a time, so a large index is never decoded whole."""
    kind = choose_kind(len(finetune), dim=finetune.shape[1])
    settings = default_settings(kind, len(finetune), finetune.shape[1])
    index = build_faiss([finetune], kind, settings)
    calibrate(index, [finetune], kind, settings)
    found = [index.search(block, 1) for block in alignment]
    if not found:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    return (
        np.concatenate([scores[:, 0] for scores, _ in found]),
        np.concatenate([rows[:, 0] for _, rows in found]),
    )


def open_index_embedder(
    loaded: LoadedIndex,
    cache_dir: Path,
    model: str | None = None,
    options: dict[str, Any] | None = None,
) -> Embedder:
    """The embedder an index was built with, its options from the manifest with `options` over
    them (another endpoint serving the same model); a different model or dimension is an
    InputError."""
    manifest = loaded.manifest
    spec = model or manifest.model
    embedder = make_embedder(
        manifest.embedder,
        cache_dir=cache_dir,
        model=ModelSpec(model=spec, cache_dir=cache_dir) if spec else None,
        options=manifest.embedder_options | dict(options or {}),
    )
    if embedder.id != manifest.embedder_id or embedder.dim != manifest.dim:
        raise InputError(
            f"the index was built with embedder {manifest.embedder_id} (dimension "
            f"{manifest.dim}), but this run's embedder is {embedder.id} (dimension {embedder.dim})",
            hint="embed with the same model, or rebuild the index",
        )
    return embedder


@dataclass(frozen=True)
class Scores:
    """Both directions of the similarity, summarised, and the most similar pairs."""

    finetune_summary: ScoreSummary
    alignment_summary: ScoreSummary
    top_pairs: list[SimilarPair]
    finetune_scores: list[FinetuneScore]
    alignment_scores: list[AlignmentScore]


def score(
    loaded: LoadedIndex,
    finetune: ExampleSet,
    finetune_vectors: np.ndarray,
    *,
    top_k: int,
    threshold: float,
) -> Scores:
    """Both directions of the similarity and the most similar pairs."""
    if top_k < 1:
        raise InputError(f"--top-k must be positive, got {top_k}")
    k = min(top_k, loaded.manifest.rows)
    cosines, rows = loaded.index.search(finetune_vectors, k)
    alignment = loaded.examples
    finetune_scores = [
        FinetuneScore(
            id=example.id,
            max_cosine=float(cosines[i, 0]),
            neighbours=[
                Neighbour(row=int(r), id=alignment[r].id, cosine=float(c))
                for r, c in zip(rows[i], cosines[i], strict=True)
                if r >= 0
            ],
        )
        for i, example in enumerate(finetune.examples)
    ]
    per_alignment, nearest = alignment_max_cosine(reconstructed(loaded.index), finetune_vectors)
    alignment_scores = [
        AlignmentScore(
            row=row,
            id=alignment[row].id,
            max_cosine=float(per_alignment[row]),
            nearest_finetune_id=finetune.examples[int(nearest[row])].id,
        )
        for row in range(len(alignment))
    ]
    return Scores(
        finetune_summary=summarize(cosines[:, 0], threshold),
        alignment_summary=summarize(per_alignment, threshold),
        top_pairs=_top_pairs(finetune.examples, alignment, cosines[:, 0], rows[:, 0]),
        finetune_scores=finetune_scores,
        alignment_scores=alignment_scores,
    )


def _top_pairs(
    finetune: Sequence[Example],
    alignment: Sequence[Example],
    best: np.ndarray,
    best_rows: np.ndarray,
    count: int = 10,
) -> list[SimilarPair]:
    order = np.argsort(-best, kind="stable")[:count]
    return [
        SimilarPair(
            cosine=float(best[i]),
            finetune_id=finetune[i].id,
            finetune=finetune[i].snippet(SNIPPET),
            alignment_id=alignment[int(best_rows[i])].id,
            alignment=alignment[int(best_rows[i])].snippet(SNIPPET),
        )
        for i in order
    ]


def run_similarity(
    loaded: LoadedIndex,
    finetune_spec: str,
    *,
    fields: Fields,
    cache_dir: Path,
    cache: EmbeddingCache | None,
    top_k: int = 5,
    threshold: float = 0.7,
    model: str | None = None,
    embedder_options: dict[str, Any] | None = None,
) -> SimilarityResult:
    """Embed the fine-tuning set (cached) with the index's embedder and score both directions."""
    started = time.monotonic()
    finetune = load_examples(finetune_spec, fields)
    embedder = open_index_embedder(loaded, cache_dir, model, embedder_options)
    texts = [embedder.text_of(e) for e in finetune.examples]
    before = time.monotonic()
    vectors, misses = embed_texts(embedder, texts, cache, description="embedding fine-tuning data")
    embedded = time.monotonic()
    scores = score(loaded, finetune, vectors, top_k=top_k, threshold=threshold)
    done = time.monotonic()
    manifest = loaded.manifest
    return SimilarityResult(
        index=str(loaded.folder),
        index_sha256=manifest.index_sha256,
        embedder_id=manifest.embedder_id,
        alignment=manifest.dataset,
        alignment_sha256=manifest.dataset_sha256,
        finetune=finetune.name,
        finetune_sha256=finetune.sha256,
        top_k=top_k,
        embedded=misses,
        seconds={
            "load": round(before - started, 3),
            "embed": round(embedded - before, 3),
            "search": round(done - embedded, 3),
            "total": round(done - started, 3),
        },
        finetune_summary=scores.finetune_summary,
        alignment_summary=scores.alignment_summary,
        top_pairs=scores.top_pairs,
        finetune_scores=scores.finetune_scores,
        alignment_scores=scores.alignment_scores,
    )


def finetune_similarity(
    section: SimilaritySection, cache_dir: Path, *, use_cache: bool
) -> ScoreSummary:
    """The `[similarity]` stage of a check: the fine-tuning set against the configured index."""
    from gate.similarity.index import load_index

    result = run_similarity(
        load_index(Path(section.index)),
        section.finetune,
        fields=Fields(section.prompt_field, section.response_field, section.messages_field),
        cache_dir=cache_dir,
        cache=EmbeddingCache(cache_dir / "embeddings.sqlite") if use_cache else None,
        threshold=section.threshold,
        embedder_options=section.embedder_options,
    )
    return result.finetune_summary
