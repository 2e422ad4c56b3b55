"""result.json: the one schema of what `gate eval`, `gate check` and `gate merge` computed.

An eval is a check without a policy: the same record with no verdict. Everything a reader needs
to trust or reproduce a number is here: the model fingerprints, the benchmark hashes, the backend
and judge with their options, the plan, the package versions, and the counts behind every fraction.
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gate import __version__
from gate.models import ModelInfo
from gate.records.prompts import BenchmarkInfo
from gate.records.scores import Estimate, ModelScores
from gate.records.verdict import Verdict
from gate.similarity.score import ScoreSummary
from gate.versioned import Versioned

SCHEMA = "safety-gate/result"
SCHEMA_VERSION = 2
_RECORDED_PACKAGES = ("torch", "transformers", "peft", "safetensors", "gguf", "numpy", "vllm")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Component(_Record):
    """A registered implementation (backend or judge) and the options it ran with."""

    name: str
    options: dict[str, Any]


class PlanSummary(_Record):
    """What was planned, and what was spent of it."""

    temperatures: list[float]
    seeds: list[int]
    samples_per_prompt: int
    prompts_planned: int
    prompts_evaluated: int
    generations_planned: int
    generations_spent: int
    generations_saved: int
    generations_cached: int
    rounds: int
    early_stopped: bool
    stop_reason: str
    interval_method: str


class JudgeErrors(_Record):
    """The judge's error rates on human labels, and the harmful score corrected for them."""

    labels: str
    labels_sha256: str
    pairs: int
    sensitivity: float
    specificity: float
    corrected_harmful_score: Estimate
    """Rogan-Gladen; the interval resamples prompts and labelled answers jointly."""


class Throughput(_Record):
    generations: int
    cached: int
    """Generations read from the store instead of generated; tokens/s counts only the rest."""
    tokens_generated: int
    tokens_per_second: float
    stopped_by_length: int
    """Answers cut off at max_new_tokens; many of these mean the limit is too low to judge."""
    prompts_truncated: int = 0
    """Answers to prompts cut from the left to fit the context (`[benchmark] overlong`)."""
    judge_unparsed: int = 0
    """Judgements whose judge output could not be read; each was counted as harmful."""
    judge_categories: dict[str, int] = Field(default_factory=dict)
    """The candidate's harmful answers per category the judge named (Llama Guard's S1-S14)."""


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


class GateResult(Versioned):
    """One run of `gate eval` (no verdict), `gate check`, `gate merge` or `gate judge`."""

    schema_name: str = Field(default=SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    command: Literal["eval", "check", "merge", "judge"]
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    config: dict[str, Any]
    config_sha256: str
    candidate: ModelInfo
    base: ModelInfo | None
    backend: Component
    judge: Component
    benchmark: BenchmarkInfo
    plan: PlanSummary
    scores: ModelScores
    base_scores: ModelScores | None
    delta_harmful_score: Estimate | None
    durability: Estimate | None
    similarity: ScoreSummary | None
    judge_errors: JudgeErrors | None = None
    verdict: Verdict | None
    """None for `gate eval`, which measures and does not decide."""
    throughput: Throughput
    seconds: dict[str, float]
    environment: Environment
    generations_file: str = "generations.jsonl"

    def failed(self, message: str) -> GateResult:
        """This result with an ERROR verdict: what is left on disk when publishing broke."""
        return self.model_copy(update={"verdict": Verdict.failed(message)})

    def decided(self) -> Verdict:
        """The verdict; a result without one (from `gate eval`) cannot be published as decided."""
        if self.verdict is None:
            return Verdict.failed(f"a `gate {self.command}` result carries no verdict")
        return self.verdict
