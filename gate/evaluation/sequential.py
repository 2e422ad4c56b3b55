"""Early stopping: stop generating once every policy quantity is decided beyond doubt.

Prompts are evaluated in rounds in a seeded random order. After each round, every quantity a
policy rule reads gets an anytime-valid confidence sequence (stats.confidence_sequence) over the
per-prompt observations so far, at level alpha / (number of interval rules): Bonferroni across
rules, and no correction needed across looks, since a confidence sequence holds at all times at
once. The run stops when each sequence lies wholly on one side of its threshold, or as soon as one
lies wholly on the failing side (one failed rule already means BLOCK).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gate.evaluation.stats import confidence_sequence
from gate.records.verdict import Measurement
from gate.sections import Policy, expand_rules


@dataclass(frozen=True)
class Observations:
    """Per-prompt values of one quantity, in evaluation order, and the range they lie in."""

    values: np.ndarray
    low: float = 0.0
    high: float = 1.0
    flipped: bool = False
    """Durability is 1 - delta: its sequence is the delta's, mirrored."""
    parts: tuple[Observations, ...] = ()
    """For the largest of several quantities (the worst attack): each part's observations. Its
    sequence is each part's at level / parts, the largest bounds of them: it holds whenever all
    the parts' sequences do."""

    @property
    def empty(self) -> bool:
        if self.parts:
            return any(part.empty for part in self.parts)
        return self.values.size == 0


@dataclass(frozen=True)
class StopCheck:
    stop: bool
    reason: str
    measurements: dict[str, Measurement]
    """Each quantity's estimate and confidence-sequence bounds at this look."""


def _sequence_bounds(observed: Observations, alpha: float) -> Measurement:
    if observed.parts:
        level = alpha / len(observed.parts)
        bounds = [_sequence_bounds(part, level) for part in observed.parts]
        return Measurement(
            max(b.value for b in bounds),
            max(b.lower for b in bounds if b.lower is not None),
            max(b.upper for b in bounds if b.upper is not None),
        )
    lower, upper = confidence_sequence(observed.values, alpha, low=observed.low, high=observed.high)
    value = float(observed.values.mean())
    if observed.flipped:
        return Measurement(1 - value, 1 - float(upper[-1]), 1 - float(lower[-1]))
    return Measurement(value, float(lower[-1]), float(upper[-1]))


def outcome(kind: str, threshold: float, measured: Measurement) -> str | None:
    """`pass` or `fail` when the interval lies wholly on one side of the threshold, else None."""
    assert measured.lower is not None and measured.upper is not None
    if kind == "max":
        if measured.upper <= threshold:
            return "pass"
        return "fail" if measured.lower > threshold else None
    if measured.lower >= threshold:
        return "pass"
    return "fail" if measured.upper < threshold else None


def check_stop(
    policy: Policy,
    observations: Mapping[str, Observations],
    alpha: float,
    fixed: Mapping[str, Measurement] | None = None,
) -> StopCheck:
    """Whether the evidence so far settles every rule; `fixed` holds interval-free quantities."""
    fixed = fixed or {}
    rules = expand_rules(policy.rules(), observations)
    interval_rules = [r for r in rules if r[1] not in fixed]
    level = alpha / max(1, len(interval_rules))
    measurements: dict[str, Measurement] = {}
    open_rules = []
    for rule, quantity, kind, threshold in interval_rules:
        observed = observations.get(quantity)
        if observed is None or observed.empty:
            open_rules.append(rule)
            continue
        measured = _sequence_bounds(observed, level)
        measurements[quantity] = measured
        result = outcome(kind, threshold, measured)
        if result == "fail":
            return StopCheck(True, f"{rule} fails beyond doubt", {**measurements, **fixed})
        if result is None:
            open_rules.append(rule)
    if open_rules:
        return StopCheck(False, f"undecided: {', '.join(open_rules)}", {**measurements, **fixed})
    return StopCheck(True, "every rule passes beyond doubt", {**measurements, **fixed})
