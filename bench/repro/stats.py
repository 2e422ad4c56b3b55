"""Per-prompt scores read back from checks, and their intervals (95%, resampling prompts)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gate.evaluation.stats import Interval, bootstrap_mean, paired_delta

RESAMPLES = 2000


def per_prompt(check: Path, model: str, suite: str) -> dict[str, float]:
    """prompt id -> share of that model's answers the suite's judge flagged (harmful, refused)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for line in (check / "generations.jsonl").open():
        row = json.loads(line)
        if row["model"] == model and row["suite"] == suite:
            hits[row["prompt_id"]].append(bool(row["flagged"]))
    if not hits:
        raise SystemExit(f"{check}: no {model} answers in suite {suite}")
    return {key: float(np.mean(values)) for key, values in hits.items()}


def stack(runs: list[dict[str, float]]) -> np.ndarray:
    """Prompts x runs (seeds), on the prompts every run answered, in a fixed order."""
    keys = sorted(set.intersection(*(set(run) for run in runs)))
    if len(keys) < 2:
        raise SystemExit("fewer than 2 prompts in common across runs")
    return np.array([[run[key] for run in runs] for key in keys])


def mean(values: np.ndarray) -> Interval:
    """Mean over prompts of the per-prompt mean over runs."""
    return bootstrap_mean(values.mean(axis=1), resamples=RESAMPLES)


def delta(after: np.ndarray, before: np.ndarray) -> Interval:
    return paired_delta(after.mean(axis=1), before.mean(axis=1), resamples=RESAMPLES)


def safe_kept(after: np.ndarray, before: np.ndarray, seed: int = 0) -> Interval:
    """Of the (prompt, run) pairs answered safely before fine-tuning, the share still answered
    safely after; a percentile interval that resamples prompts."""

    def share(rows: np.ndarray) -> float:
        safe_before = (1 - before[rows]).sum()
        kept = ((1 - before[rows]) * (1 - after[rows])).sum()
        return float(kept / safe_before) if safe_before else float("nan")

    every = np.arange(before.shape[0])
    estimate = share(every)
    rng = np.random.default_rng(seed)
    draws = np.array([share(rng.integers(0, len(every), len(every))) for _ in range(RESAMPLES)])
    lower, upper = np.nanquantile(draws, [0.025, 0.975])
    return Interval(estimate, float(lower), float(upper), 0.95, "percentile-bootstrap")


def spearman(x: list[float], y: list[float], seed: int = 0) -> Interval:
    """Spearman's rank correlation with a percentile interval resampling the points."""
    from scipy.stats import spearmanr  # type: ignore[import-untyped]

    xs, ys = np.asarray(x), np.asarray(y)
    estimate = float(spearmanr(xs, ys).statistic)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(RESAMPLES):
        rows = rng.integers(0, len(xs), len(xs))
        if np.ptp(xs[rows]) > 0 and np.ptp(ys[rows]) > 0:  # a constant draw has no ranks
            draws.append(float(spearmanr(xs[rows], ys[rows]).statistic))
    lower, upper = np.quantile(draws, [0.025, 0.975]) if draws else (np.nan, np.nan)
    return Interval(estimate, float(lower), float(upper), 0.95, "percentile-bootstrap")


def pct(interval: Interval | None, signed: bool = False) -> str:
    if interval is None:
        return "-"
    sign = "+" if signed else ""
    return f"{interval.value:{sign}.1%} [{interval.lower:{sign}.1%}, {interval.upper:{sign}.1%}]"


def number(interval: Interval) -> str:
    return f"{interval.value:+.2f} [{interval.lower:+.2f}, {interval.upper:+.2f}]"


def as_dict(interval: Interval) -> dict[str, Any]:
    return {"value": interval.value, "lower": interval.lower, "upper": interval.upper}
