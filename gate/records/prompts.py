"""A benchmark prompt, and the record of which benchmark and prompts a run used."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

UNCATEGORIZED = "uncategorized"


@dataclass(frozen=True)
class Prompt:
    """One harmful prompt of a benchmark."""

    id: str
    """Stable id: the first 16 hex digits of the sha256 of `text`."""
    text: str
    """What the model is asked, context included."""
    category: str
    """Harm category, lower-cased; `uncategorized` when the source has none."""
    source: str = field(default="", compare=False)
    """Where it was read (`file:line`), for messages about this prompt."""


class BenchmarkInfo(BaseModel):
    """Which benchmark, and which prompts of it, a run used; recorded in every result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sha256: str
    selection_sha256: str
    prompts: int
    total: int
    limit: int | None
    categories: dict[str, int]
    duplicates: int = 0
