"""Estimates with intervals, and the figures of one model on one suite."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gate.records.verdict import Measurement


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Estimate(_Record):
    """A fraction (0..1) or a difference (-1..1) with its interval."""

    value: float
    lower: float
    upper: float
    method: str

    @classmethod
    def of(cls, interval: Any) -> Estimate:
        """From any record with value, lower, upper and method (a stats.Interval)."""
        return cls(
            value=interval.value, lower=interval.lower, upper=interval.upper, method=interval.method
        )

    def measurement(self) -> Measurement:
        return Measurement(self.value, self.lower, self.upper)


class Share(Estimate):
    """The share of answers a suite's judge flagged (harmful, or refused), averaged per prompt.

    Every prompt weighs the same however many of its samples were judged; the interval is a
    bootstrap over prompts, never over correlated samples.
    """

    unit: str = "fraction"
    flagged: int
    """Answers the judge flagged."""
    generations: int
    """Answers judged."""
    prompts: int


class SeedSpread(_Record):
    per_seed: dict[str, float]
    minimum: float
    maximum: float
    std: float


class ModelScores(_Record):
    """One model's figures on one suite over the evaluated prompts."""

    pooled: Share
    per_temperature: dict[str, Share]
    seeds: SeedSpread
    categories: dict[str, Share]
