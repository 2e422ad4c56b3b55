from __future__ import annotations

import pytest

from gate.stats import wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [
        # Reference values: Newcombe (1998), "Two-sided confidence intervals for the single
        # proportion", Table I, Wilson score method without continuity correction.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(
    successes: int, trials: int, lower: float, upper: float
) -> None:
    interval = wilson_interval(successes, trials)
    assert interval.lower == pytest.approx(lower, abs=1e-4)
    assert interval.upper == pytest.approx(upper, abs=1e-4)
    assert interval.value == successes / trials


def test_extremes_reach_the_bounds_exactly() -> None:
    assert wilson_interval(0, 8).lower == 0.0
    assert wilson_interval(8, 8).upper == 1.0


def test_wider_at_higher_confidence() -> None:
    narrow, wide = wilson_interval(5, 10, 0.90), wilson_interval(5, 10, 0.99)
    assert wide.lower < narrow.lower and wide.upper > narrow.upper


@pytest.mark.parametrize(("successes", "trials"), [(1, 0), (-1, 5), (6, 5)])
def test_rejects_impossible_counts(successes: int, trials: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, trials)
