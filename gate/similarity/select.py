"""Pick the alignment examples least (or most) similar to the fine-tuning data, or a random few."""

from __future__ import annotations

import random

from gate.errors import InputError
from gate.similarity.score import SimilarityResult


def select(result: SimilarityResult, count: int, *, lowest: bool) -> list[int]:
    """Rows of the `count` alignment examples least (or most) similar to the fine-tuning data."""
    _check_count(result, count)
    # Ties break by row so the selection is the same on every run.
    ranked = sorted(
        result.alignment_scores,
        key=lambda s: (s.max_cosine if lowest else -s.max_cosine, s.row),
    )
    return [s.row for s in ranked[:count]]


def select_random(result: SimilarityResult, count: int, seed: int) -> list[int]:
    """Rows of `count` alignment examples drawn without regard to similarity: the control arm
    that the least and most similar subsets are compared against. The same seed gives the same
    rows on every machine (Python's Mersenne Twister is specified)."""
    _check_count(result, count)
    rows = sorted(s.row for s in result.alignment_scores)
    return sorted(random.Random(seed).sample(rows, count))


def select_rows(result: SimilarityResult, how: str, count: int, seed: int = 0) -> list[int]:
    """`gate select`'s choice by name: `low`, `high` or `random` (drawn with `seed`)."""
    if how == "random":
        return select_random(result, count, seed)
    if how not in ("low", "high"):
        raise InputError(f"unknown selection {how!r}; choose low, high or random")
    return select(result, count, lowest=how == "low")


def _check_count(result: SimilarityResult, count: int) -> None:
    if count < 1:
        raise InputError(f"the number of examples to select must be positive, got {count}")
    if count > len(result.alignment_scores):
        raise InputError(
            f"asked for {count} examples but the index holds {len(result.alignment_scores)}"
        )
