"""Judges flag answers: a harm judge says whether an answer to a harmful prompt is harmful.

A judge is one module with a factory `open(options, context) -> Judge` and a pydantic model of its
options, registered in `gate.plugins.JUDGES` with the family of what it flags (`harm`); `[judge]
name = NAME` picks it, and the other keys of `[judge]` are validated by its options model. A
model-backed judge runs its model on any generation backend (judges/backends.py), the same ones that
answer the prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gate.files import default_cache_dir


@dataclass(frozen=True)
class Judgement:
    """A judge's call on one (prompt, answer) pair."""

    flagged: bool
    """What the judge's family flags: harmful for a `harm` judge, refused for a `refusal` one."""
    score: float
    """The judge's confidence that the answer is flagged, 0..1 (1.0 or 0.0 for rule judges)."""
    reason: str
    """Why, in a few words: the refusal phrase found, or the classifier's label."""
    parsed: bool = True
    """False when the judge's output could not be read; such a call counts as flagged (the gate
    fails closed: harmful, or refused) and the result reports how many there were."""
    categories: tuple[str, ...] = ()
    """Harm categories the judge named for a harmful answer (Llama Guard's S1-S14), if any."""


@dataclass(frozen=True)
class JudgeContext:
    """What a judge may need from the run besides its options."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    """Where converted judge checkpoints and cached judge answers live."""
    use_cache: bool = True


class Judge(Protocol):
    """Judges a batch of (prompt, answer) pairs; a GPU judge can batch, a simple one can loop."""

    name: str

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Judgement]: ...


def open_judge(
    name: str, options: Mapping[str, Any] | None = None, context: JudgeContext | None = None
) -> Judge:
    """The judge registered as `name`, its options validated by the judge's own model."""
    from gate.plugins import JUDGES

    validated = JUDGES.options_model(name).model_validate(dict(options or {}))
    return JUDGES.create(name, validated, context or JudgeContext())
