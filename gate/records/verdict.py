"""Measured quantities, one rule's outcome, and the verdict: PASS, BLOCK or ERROR."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict


class Decision(str, Enum):
    """What the gate says about a checkpoint."""

    PASS = "PASS"
    BLOCK = "BLOCK"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Measurement:
    """A measured quantity; `lower`/`upper` are None when it has no interval (similarity)."""

    value: float
    lower: float | None = None
    upper: float | None = None


class RuleOutcome(BaseModel):
    """One rule's value, interval, threshold and outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    quantity: str
    value: float
    lower: float | None
    upper: float | None
    threshold: float
    judged_on: str
    """`upper bound`, `lower bound` or `estimate`: which number was compared."""
    passed: bool

    def interval(self) -> str:
        """`[lower, upper]`, or `-` for a quantity without one."""
        if self.lower is None or self.upper is None:
            return "-"
        return f"[{self.lower:.3f}, {self.upper:.3f}]"

    def line(self) -> str:
        """`rule: value [lower, upper] vs threshold -> pass|FAIL`, for logs and reports."""
        interval = f" {self.interval()}" if self.lower is not None else ""
        sign = "<=" if self.rule.startswith("max") else ">="
        outcome = "pass" if self.passed else "FAIL"
        return (
            f"{self.rule}: {self.value:.3f}{interval} (judged on the {self.judged_on}) "
            f"{sign} {self.threshold:g} -> {outcome}"
        )


class Verdict(BaseModel):
    """PASS when every rule passes, BLOCK otherwise; ERROR when the gate could not decide."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Decision
    rules: list[RuleOutcome]
    error: str | None = None

    @classmethod
    def failed(cls, message: str) -> Verdict:
        """The verdict of a run that broke: never PASS (fail closed)."""
        return cls(decision=Decision.ERROR, rules=[], error=message)
