from __future__ import annotations

import numpy as np
import pytest

from gate.evaluation.stats import wilson_interval


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


# --- prompt-level bootstrap and confidence sequences ---------------------------------------------

from gate.evaluation.stats import bootstrap_mean, confidence_sequence, paired_delta, spread  # noqa: E402


def _simulated_model(
    rng: np.random.Generator, harmful_score: float, prompts: int, samples: int = 4
) -> np.ndarray:
    """Per-prompt harmful shares of a model whose prompts differ in how often they elicit harm."""
    propensity = rng.beta(2 * harmful_score, 2 * (1 - harmful_score), prompts)
    return rng.binomial(samples, propensity) / samples


@pytest.mark.parametrize(
    ("harmful_score", "prompts"), [(0.05, 100), (0.1, 100), (0.3, 100), (0.5, 60), (0.02, 313)]
)
def test_bootstrap_coverage_is_nominal(harmful_score: float, prompts: int) -> None:
    rng = np.random.default_rng(2024)
    runs = 1000
    covered = 0
    for run in range(runs):
        interval = bootstrap_mean(
            _simulated_model(rng, harmful_score, prompts), resamples=1000, seed=run
        )
        covered += interval.lower <= harmful_score <= interval.upper
    assert 0.93 <= covered / runs <= 0.97


def test_paired_delta_coverage_is_nominal() -> None:
    rng = np.random.default_rng(7)
    covered, runs, shift = 0, 1000, 0.05
    for run in range(runs):
        base = rng.beta(0.2, 1.8, 150)  # the same prompts, answered by two models
        candidate = np.clip(base + shift, 0, 1)
        interval = paired_delta(
            rng.binomial(4, candidate) / 4, rng.binomial(4, base) / 4, resamples=1000, seed=run
        )
        covered += interval.lower <= float((candidate - base).mean()) <= interval.upper
    assert 0.93 <= covered / runs <= 0.97


def test_bootstrap_resamples_prompts_not_samples() -> None:
    # Two prompts always harmful, two never: 8 samples, but only 4 independent prompts.
    clustered = np.array([1.0, 1.0, 0.0, 0.0])
    interval = bootstrap_mean(clustered)
    naive = wilson_interval(4, 16)  # as if all 16 samples (4 per prompt) were independent
    assert interval.upper - interval.lower > naive.upper - naive.lower


def test_constant_values_fall_back_to_wilson() -> None:
    safe = bootstrap_mean(np.zeros(100))
    assert (safe.lower, safe.method) == (0.0, "wilson-over-prompts")
    assert safe.upper == pytest.approx(wilson_interval(0, 100).upper)
    same = paired_delta(np.zeros(50), np.zeros(50))
    assert same.lower == pytest.approx(-same.upper) and same.upper > 0


def test_spread() -> None:
    result = spread([0.1, 0.3, 0.2])
    assert (result.minimum, result.maximum) == (0.1, 0.3)
    assert result.std == pytest.approx(np.std([0.1, 0.3, 0.2]))


def test_confidence_sequence_holds_at_every_look() -> None:
    rng = np.random.default_rng(11)
    runs, violated = 500, 0
    for _ in range(runs):
        shares = _simulated_model(rng, 0.1, 300)
        lower, upper = confidence_sequence(shares, alpha=0.05)
        violated += bool(((lower > 0.1) | (upper < 0.1)).any())
    assert violated / runs <= 0.05


def test_confidence_sequence_narrows_and_handles_signed_ranges() -> None:
    rng = np.random.default_rng(3)
    lower, upper = confidence_sequence(_simulated_model(rng, 0.02, 300))
    widths = upper - lower
    assert np.all(np.diff(widths) <= 1e-12) and widths[-1] < 0.1
    deltas = rng.uniform(-1, 1, 200)
    low, high = confidence_sequence(deltas, low=-1.0, high=1.0)
    assert -1 <= low[-1] < 0 < high[-1] <= 1
    with pytest.raises(ValueError):
        confidence_sequence(np.array([1.5]))


def test_the_worst_of_several_quantities_takes_the_largest_bounds_at_a_split_level() -> None:
    from gate.evaluation.sequential import Observations, check_stop
    from gate.sections import Policy

    rng = np.random.default_rng(0)
    low, high = (rng.binomial(1, p, 200).astype(float) for p in (0.1, 0.6))
    parts = (Observations(low), Observations(high))
    policy = Policy(max_harmful_score=None, max_worst_attack_harmful_score=0.9)
    observed = {"worst_attack_harmful_score": Observations(high, parts=parts)}
    stop = check_stop(policy, observed, 0.05)
    worst = stop.measurements["worst_attack_harmful_score"]
    alone = check_stop(
        Policy(max_harmful_score=0.9), {"harmful_score": Observations(high)}, 0.025
    ).measurements["harmful_score"]
    # The worst is the higher part, with that part's sequence at alpha / 2.
    assert worst == alone
    assert stop.stop and stop.reason == "every rule passes beyond doubt"
