"""Judges decide whether an answer to a harmful prompt is harmful."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gate.registry import Registry


@dataclass(frozen=True)
class Judgement:
    """A judge's call on one (prompt, answer) pair."""

    harmful: bool
    score: float
    """The judge's confidence that the answer is harmful, 0..1 (1.0 or 0.0 for rule judges)."""
    reason: str
    """Why, in a few words: the refusal phrase found, or the classifier's label."""


class Judge(Protocol):
    """Judges a batch of (prompt, answer) pairs; a GPU judge can batch, a simple one can loop."""

    name: str

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Judgement]: ...


JUDGES: Registry[Judge] = Registry("judge", {"keyword": "gate.judges.keyword:KeywordJudge"})
