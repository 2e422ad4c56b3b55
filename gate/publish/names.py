"""The names the gate writes to MLflow and gate-monitor reads back: one contract, one place.

Both sides import these; a rename here changes the writer and the reader together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The similarity statistics logged and exported: the policy's own list.
from gate.sections import SIMILARITY_STATS as SIMILARITY_STATS

# Run metrics. Fractions 0..1; each estimate also has `<name>_lower` and `<name>_upper`.
HARMFUL_SCORE = "hs"
DELTA_HARMFUL_SCORE = "delta_hs"
DURABILITY = "durability"
GENERATIONS_SPENT = "generations_spent"
GENERATIONS_SAVED = "generations_saved"
WALL_SECONDS = "wall_seconds"
"""Logged to MLflow and exported by gate-monitor, all four."""

# hs, hs_lower, hs_t0.7, hs_t0.7_upper, ...
HS_PATTERN = re.compile(r"^hs(?:_t(?P<t>[0-9.]+))?(?P<bound>_lower|_upper)?$")
CATEGORY_PATTERN = re.compile(r"^category\.(?P<c>.+)\.hs$")
_UNSAFE = re.compile(r"[^\w\-. /]")


def metric_key(text: str) -> str:
    """A metric or param key MLflow accepts."""
    return _UNSAFE.sub("_", text)


def temperature_metric(temperature: str, metric: str = HARMFUL_SCORE) -> str:
    """A suite's metric at one temperature (`hs_t0`, `hs_t0.7`)."""
    return f"{metric}_t{temperature}"


def category_metric(category: str, metric: str = HARMFUL_SCORE) -> str:
    """A suite's metric on one benchmark category (`category.violence.hs`)."""
    return metric_key(f"category.{category}.{metric}")


def delta_metric(metric: str) -> str:
    """A suite's paired difference against the base (`delta_hs`)."""
    return f"delta_{metric}"


def similarity_metric(stat: str) -> str:
    """A statistic of the fine-tuning set's similarity to the alignment data."""
    return f"similarity_{stat}"


# Run tags and params.
TAG_VERDICT = "gate.verdict"
TAG_FINGERPRINT = "gate.model_fingerprint"
TAG_INPUTS = "gate.inputs_sha"
TAG_CONFIG = "gate.config_sha"
TAG_VERSION = "gate.version"
TAG_STOP_REASON = "gate.stop_reason"
TAG_COMMAND = "gate.command"
TAG_JUDGE = "gate.judge"
TAG_GITHUB_RUN_URL = "gate.github_run_url"
TAG_GIT_COMMIT = "gate.git_commit"
# `gate finetune` runs.
TAG_DEFENSE = "gate.defense"
TAG_MIX = "gate.mix"
TAG_ADAPTER = "gate.adapter"
# A repaired model's lineage: the run and checkpoint it was repaired from, and how.
TAG_REPAIRED_FROM = "gate.repaired_from"
TAG_REPAIRED_FROM_FINGERPRINT = "gate.repaired_from_fingerprint"
TAG_REPAIR_METHOD = "gate.repair_method"
TAG_REPAIR_ALPHA = "gate.repair_alpha"
PARAM_MODEL = "config.model.path"
PARAM_BENCHMARK = "config.benchmark.name"
PARAM_JUDGE = "config.judge.name"
PARAM_DATASET = "config.similarity.finetune"
PARAM_SUITES = "suites"
"""The suites a run evaluated, comma-separated; each has the `suite_param`s below."""
SUITE_FIELDS = ("metric", "quantity", "complement", "benchmark", "judge", "attack", "family")
WORST_ATTACK = "worst_ahs"
"""The harmful score under the worst attack (with `_lower`, `_upper`); its attack is the param
`worst_attack`."""
PARAM_WORST_ATTACK = "worst_attack"


def suite_param(suite: str, field: str) -> str:
    """The param holding one field of a suite (`suite.harmful.metric`)."""
    return f"suite.{suite}.{field}"


@dataclass(frozen=True)
class SuiteNames:
    """How a suite's figures are named in MLflow and in Prometheus."""

    name: str
    metric: str
    """The MLflow metric: `hs`, `hs_lower`, `hs_t0.7`, `category.C.hs`, `delta_hs`."""
    quantity: str
    """The Prometheus family: `safety_gate_harmful_score`, `..._category_...`, `..._delta_...`."""
    complement: str = ""
    """1 - delta, under its own name in both (`durability`); empty when the suite has none."""
    benchmark: str = "unknown"
    judge: str = "unknown"
    attack: str = ""
    """The attack the suite's prompts were wrapped in; its series carry it as a label."""
    family: str = ""
    """That attack's family (`instruction`, `encoding`, `framing`), also a label."""

    @property
    def value_pattern(self) -> re.Pattern[str]:
        """The pooled and per-temperature metric, with its bounds: `hs`, `hs_t0.7_upper`."""
        return re.compile(
            rf"^{re.escape(self.metric)}(?:_t(?P<t>[0-9.]+))?(?P<bound>_lower|_upper)?$"
        )

    @property
    def category_pattern(self) -> re.Pattern[str]:
        return re.compile(rf"^category\.(?P<c>.+)\.{re.escape(self.metric)}$")

    def families(self) -> list[str]:
        """The Prometheus families gate-monitor exports for this suite."""
        q = f"safety_gate_{self.quantity}"
        found = [q, f"{q}_lower", f"{q}_upper", f"safety_gate_category_{self.quantity}"]
        found.append(f"safety_gate_delta_{self.quantity}")
        worst = f"safety_gate_worst_{self.quantity}"
        found += [worst, f"{worst}_lower", f"{worst}_upper"] if self.attack else []
        return found + ([f"safety_gate_{self.complement}"] if self.complement else [])


HEADLINE = SuiteNames("harmful", HARMFUL_SCORE, "harmful_score", DURABILITY)
"""The harmful suite: always exported, and what a run logged before suites existed had."""

# Registry model-version tags.
VERSION_VERDICT = "safety_gate.verdict"
VERSION_HS = "safety_gate.hs"
VERSION_RUN_ID = "safety_gate.run_id"
VERSION_FINGERPRINT = "safety_gate.fingerprint"
