"""Interval estimates for harmful-score fractions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Proportion:
    """A fraction with its confidence interval."""

    successes: int
    trials: int
    value: float
    lower: float
    upper: float
    confidence: float
    method: str


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Proportion:
    """The Wilson score interval: well-behaved near 0 and 1, unlike the normal approximation."""
    if trials <= 0:
        raise ValueError("trials must be positive")
    if not 0 <= successes <= trials:
        raise ValueError("successes must lie in 0..trials")
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # Clamp away float error so an all-harmful run reports an upper bound of exactly 1.
    return Proportion(
        successes=successes,
        trials=trials,
        value=p,
        lower=max(0.0, centre - half),
        upper=min(1.0, centre + half),
        confidence=confidence,
        method="wilson",
    )
