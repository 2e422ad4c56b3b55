"""result.json: the one schema of what `gate eval`, `gate check`, `gate merge` and `gate judge`
computed.

An eval is a check without a policy: the same record with no verdict. A check evaluates a list of
suites (the harmful-prompt suite first); each suite's figures are one `SuiteResult`, read by name,
so the policy, the reports, MLflow and the monitor need no branch per suite. Everything a reader
needs to trust or reproduce a number is here: the model fingerprints, the benchmark hashes, the
backend and judges with their options, the plan, the package versions, and the counts behind
every fraction.
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
from gate.records.verdict import Measurement, Verdict
from gate.sections import variant_quantity
from gate.similarity.score import ScoreSummary
from gate.versioned import Versioned

SCHEMA = "safety-gate/result"
SCHEMA_VERSION = 3
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


class AttackInfo(_Record):
    """The attack a suite's prompts were wrapped in."""

    name: str
    version: int
    family: str
    summary: str


class WorstAttack(_Record):
    """The attack under which the candidate scored highest, over an attack suite's attacks."""

    suite: str
    quantity: str
    """`worst_attack_harmful_score`: the name policy rules read it under."""
    attack: str
    """The attack with the highest point estimate."""
    attacks: int
    estimate: Estimate
    """The largest estimate, between the largest lower and the largest upper bound of the
    attacks' intervals, each at confidence 1 - (1 - c) / attacks (Bonferroni): with probability
    c every attack's interval holds at once, and so does this one."""


class SuiteResult(_Record):
    """One suite's figures: its quantity for the candidate and the base, and their difference."""

    name: str
    """The suite's name in the config (its kind unless named)."""
    kind: str
    quantity: str
    """What the suite measures: `harmful_score` for the harmful suite."""
    label: str
    """The quantity in words, for reports."""
    metric: str
    """The quantity's MLflow metric name (`hs` for the harmful score)."""
    flagged: str
    """What a flagged answer is called (`harmful`)."""
    complement: str | None = None
    """The name of 1 - delta, when the suite has one (`durability`)."""
    benchmark: BenchmarkInfo
    judge: Component
    candidate: ModelScores
    base: ModelScores | None
    derived: dict[str, Estimate] = Field(default_factory=dict)
    """Quantities against the base, by name: `delta_<quantity>` (paired) and its complement
    (durability = 1 - delta HS) where the suite has one."""
    judge_errors: JudgeErrors | None = None
    attack: AttackInfo | None = None
    """The attack its prompts were wrapped in; None when they were asked as written."""

    @property
    def column(self) -> str:
        """A table heading for the figure: `HS` for a short metric name, else the label."""
        return self.metric.upper() if len(self.metric) <= 4 else self.label

    def measurements(self) -> dict[str, Measurement]:
        """Every quantity of this suite a policy rule can read, by name."""
        attack = None if self.attack is None else self.attack.name
        quantity = variant_quantity(self.quantity, attack)
        measured = {quantity: self.candidate.pooled.measurement()}
        for category, share in self.candidate.categories.items():
            measured[category_quantity(quantity, category)] = share.measurement()
        for name, estimate in self.derived.items():
            measured[variant_quantity(name, attack)] = estimate.measurement()
        if self.judge_errors is not None:
            measured[f"corrected_{quantity}"] = (
                self.judge_errors.corrected_harmful_score.measurement()
            )
        return measured


def category_quantity(quantity: str, category: str) -> str:
    """The name of a quantity on one benchmark category: `harmful_score[violence]`."""
    return f"{quantity}[{category.lower()}]"


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
    plan: PlanSummary
    suites: list[SuiteResult] = Field(min_length=1)
    """The first is the headline suite (harmful prompts by default)."""
    similarity: ScoreSummary | None
    worst_attack: WorstAttack | None = None
    """Over the attacks of an attack suite, when the run had one."""
    verdict: Verdict | None
    """None for `gate eval`, which measures and does not decide."""
    throughput: Throughput
    seconds: dict[str, float]
    environment: Environment
    generations_file: str = "generations.jsonl"

    @property
    def primary(self) -> SuiteResult:
        """The headline suite: the first configured (harmful prompts by default)."""
        return self.suites[0]

    def suite(self, name: str) -> SuiteResult | None:
        """The suite called `name`, if this run evaluated it."""
        return next((s for s in self.suites if s.name == name), None)

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A version-2 result (one harmful-score suite at the top level) in version 3's shape."""
        if data.get("schema_version") != 2:
            return data
        data = dict(data)

        def share(old: dict[str, Any]) -> dict[str, Any]:
            new = {k: v for k, v in old.items() if k != "harmful"}
            return {**new, "flagged": old["harmful"]}

        def scores(old: dict[str, Any] | None) -> dict[str, Any] | None:
            if old is None:
                return None
            return {
                "pooled": share(old["harmful_score"]),
                "per_temperature": {t: share(v) for t, v in old["per_temperature"].items()},
                "seeds": old["seeds"],
                "categories": {c: share(v) for c, v in old["categories"].items()},
            }

        derived = {
            name: data[key]
            for name, key in (
                ("delta_harmful_score", "delta_harmful_score"),
                ("durability", "durability"),
            )
            if data.get(key) is not None
        }
        suite = {
            "name": "harmful",
            "kind": "harmful",
            "quantity": "harmful_score",
            "label": "harmful score",
            "metric": "hs",
            "flagged": "harmful",
            "complement": "durability",
            "benchmark": data.pop("benchmark"),
            "judge": data.pop("judge"),
            "candidate": scores(data.pop("scores")),
            "base": scores(data.pop("base_scores")),
            "derived": derived,
            "judge_errors": data.pop("judge_errors", None),
        }
        data.pop("delta_harmful_score", None)
        data.pop("durability", None)
        return {**data, "suites": [suite], "schema_version": SCHEMA_VERSION}

    def failed(self, message: str) -> GateResult:
        """This result with an ERROR verdict: what is left on disk when publishing broke."""
        return self.model_copy(update={"verdict": Verdict.failed(message)})

    def decided(self) -> Verdict:
        """The verdict; a result without one (from `gate eval`) cannot be published as decided."""
        if self.verdict is None:
            return Verdict.failed(f"a `gate {self.command}` result carries no verdict")
        return self.verdict
