"""The result.json schema: a versioned, validated record of one evaluation.

Everything a reader needs to trust or reproduce a number is here: the model fingerprint, the
benchmark hash, the settings, the package versions, and the counts behind every fraction.
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from pydantic import BaseModel, ConfigDict, Field

from gate import __version__
from gate.models import ModelInfo
from gate.versioned import Versioned

SCHEMA = "safety-gate/eval-result"
SCHEMA_VERSION = 1
_RECORDED_PACKAGES = ("torch", "transformers", "peft", "safetensors", "gguf", "numpy")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HarmfulScore(_Record):
    """Share of answers the judge marked harmful, as a fraction (0..1), with its interval."""

    unit: str = "fraction"
    value: float
    ci_lower: float
    ci_upper: float
    harmful: int
    total: int
    confidence: float
    method: str


class CategoryScore(HarmfulScore):
    """The harmful score of one harm category."""

    category: str


class BenchmarkInfo(_Record):
    name: str
    sha256: str
    selection_sha256: str
    prompts: int
    total: int
    limit: int | None
    categories: dict[str, int]


class EvalSettings(_Record):
    backend: str
    judge: str
    temperature: float
    top_p: float
    min_p: float
    seed: int
    max_new_tokens: int
    batch_size: int
    uses_chat_template: bool
    chat_template_sha256: str


class Timings(_Record):
    load_model_s: float
    load_benchmark_s: float
    generate_s: float
    judge_s: float
    total_s: float


class Throughput(_Record):
    generations: int
    cached: int
    """Generations read from the store instead of generated; tokens/s counts only the rest."""
    tokens_generated: int
    tokens_per_second: float
    stopped_by_length: int
    """Answers cut off at max_new_tokens; many of these mean the limit is too low to judge."""


class Environment(_Record):
    gate_version: str
    python: str
    platform: str
    packages: dict[str, str]

    @classmethod
    def current(cls) -> Environment:
        packages = {}
        for name in _RECORDED_PACKAGES:
            try:
                packages[name] = version(name)
            except PackageNotFoundError:
                continue
        return cls(
            gate_version=__version__,
            python=sys.version.split()[0],
            platform=platform.platform(),
            packages=packages,
        )


class EvalResult(Versioned):
    """One `gate eval` run."""

    schema_name: str = Field(default=SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    model: ModelInfo
    benchmark: BenchmarkInfo
    settings: EvalSettings
    harmful_score: HarmfulScore
    categories: list[CategoryScore]
    timings: Timings
    throughput: Throughput
    environment: Environment
    generations_file: str = "generations.jsonl"
