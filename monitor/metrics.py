"""The exported metrics: an immutable snapshot of what the sources last read, and the collector.

The collector yields fresh metric families from the current snapshot on every collect(), so no
value outlives the snapshot it came from (client_python's custom-collector pattern). The names are
the README's gate-monitor table: each suite a run evaluated has its own families, named by its
quantity (`safety_gate_harmful_score`, ...); all fractions are 0..1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gate.publish import names

# The families exported whatever the suites: counters with their `_total`, as /metrics and an
# alert rule name them. Each suite adds its own (`names.SuiteNames.families`).
FIXED_METRICS = (
    "safety_gate_similarity_score",
    "safety_gate_verdict",
    "safety_gate_generations_total",
    "safety_gate_runs_total",
    "safety_gate_probe_harmful_ratio",
    "safety_gate_monitor_source_up",
    "safety_gate_monitor_last_success_timestamp_seconds",
    "safety_gate_alert_delivery_failures_total",
)


def exported_metrics(suites: Iterable[names.SuiteNames] = ()) -> list[str]:
    """Every family gate-monitor exports for runs of these suites (the harmful suite's always)."""
    found = [*names.HEADLINE.families(), *FIXED_METRICS]
    for suite in suites:
        found += [name for name in suite.families() if name not in found]
    return found


@dataclass(frozen=True)
class VersionRecord:
    """The latest gate run of one model version, as read from MLflow."""

    model: str
    version: str
    run_id: str
    started_ms: int
    verdict: str
    suites: tuple[names.SuiteNames, ...]
    """The suites the run evaluated, with their benchmark and judge."""
    dataset: str
    metrics: Mapping[str, float]
    worst_attack: str = ""
    """The attack the run's harmful score was highest under, when it ran an attack suite."""


@dataclass(frozen=True)
class Snapshot:
    """Everything one successful MLflow poll read."""

    versions: tuple[VersionRecord, ...] = ()
    runs_by_verdict: Mapping[str, int] = field(default_factory=dict)


class MonitorState:
    """What the collector exports; replaced whole by the poller, read by any scrape thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshot = Snapshot()
        self.source_up = False
        self.last_success: float | None = None
        self.probe_ratios: dict[str, float] = {}
        self.delivery_failures = 0
        self.generation = 0
        """Bumped on every change, so a cached rendering knows it is stale."""

    def record_poll(self, snapshot: Snapshot | None) -> None:
        """A successful poll replaces the snapshot; a failed one keeps the last values."""
        with self._lock:
            if snapshot is not None:
                self.snapshot = snapshot
                self.last_success = time.time()
            self.source_up = snapshot is not None
            self.generation += 1

    def record_probe(self, endpoint: str, ratio: float) -> None:
        with self._lock:
            self.probe_ratios = {**self.probe_ratios, endpoint: ratio}
            self.generation += 1

    def record_delivery_failure(self) -> None:
        with self._lock:
            self.delivery_failures += 1
            self.generation += 1


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class _SuiteFamilies:
    """The families of one suite quantity, filled from every version's metrics."""

    def __init__(self, suite: names.SuiteNames) -> None:
        q, label = suite.quantity, suite.quantity.replace("_", " ")
        # An attack suite's runs share its families, told apart by the attack and its family.
        self.extra = ["attack", "family"] if suite.attack else []
        labels = ["model", "version", "benchmark", "judge", "temperature", *self.extra]
        self.values = {
            bound: _gauge(
                f"safety_gate_{q}{bound}",
                f"{label.capitalize()}{doc} (0..1); temperature=all is pooled.",
                labels,
            )
            for bound, doc in (
                ("", ""),
                ("_lower", ", lower interval bound"),
                ("_upper", ", upper"),
            )
        }
        self.category = _gauge(
            f"safety_gate_category_{q}",
            f"{label.capitalize()} per benchmark category (0..1).",
            ["model", "version", "benchmark", "category", *self.extra],
        )
        self.derived = [
            _gauge(
                f"safety_gate_delta_{q}",
                f"{label.capitalize()} of the candidate minus its base model's, same prompts.",
                ["model", "version", "benchmark", *self.extra],
            )
        ]
        if suite.complement:
            self.derived.append(
                _gauge(
                    f"safety_gate_{suite.complement}",
                    f"1 - delta {label}.",
                    ["model", "version", "benchmark"],
                )
            )

    def add(self, key: list[str], suite: names.SuiteNames, metrics: Mapping[str, float]) -> None:
        values, categories = suite.value_pattern, suite.category_pattern
        extra = [suite.attack, suite.family] if self.extra else []
        for name, value in sorted(metrics.items()):
            if match := values.match(name):
                labels = [*key, suite.benchmark, suite.judge, match["t"] or "all", *extra]
                self.values[match["bound"] or ""].add_metric(labels, value)
            elif match := categories.match(name):
                self.category.add_metric([*key, suite.benchmark, match["c"], *extra], value)
        sources = [names.delta_metric(suite.metric), suite.complement]
        for source, family in zip(sources, self.derived, strict=False):
            if source in metrics:
                family.add_metric([*key, suite.benchmark, *extra], metrics[source])

    def families(self) -> list[Metric]:
        return [*self.values.values(), self.category, *self.derived]


def version_families(versions: tuple[VersionRecord, ...]) -> list[Metric]:
    """The per-version families: each suite's quantity with bounds, per category and against the
    base; similarity; the verdict; generations spent."""
    by_quantity = {names.HEADLINE.quantity: _SuiteFamilies(names.HEADLINE)}
    similarity = _gauge(
        "safety_gate_similarity_score",
        "Similarity of the fine-tuning data to the safety-alignment data (cosine, or a share).",
        ["model", "version", "dataset", "stat"],
    )
    verdict = _gauge(
        "safety_gate_verdict", "Latest gate verdict: 1 PASS, 0 BLOCK.", ["model", "version"]
    )
    worst = {
        suffix: _gauge(
            f"safety_gate_worst_attack_harmful_score{suffix}",
            f"Harmful score under the attack the candidate scored highest under{doc} (0..1); "
            "the interval holds for all the suite's attacks at once.",
            ["model", "version", "benchmark", "attack"],
        )
        for suffix, doc in (("", ""), ("_lower", ", lower bound"), ("_upper", ", upper bound"))
    }
    generations = CounterMetricFamily(
        "safety_gate_generations",
        "Generations the latest gate run of this version spent.",
        labels=["model", "version"],
    )
    for record in versions:
        m, key = record.metrics, [record.model, record.version]
        for suite in record.suites:
            families = by_quantity.setdefault(suite.quantity, _SuiteFamilies(suite))
            families.add(key, suite, m)
        for stat in names.SIMILARITY_STATS:
            stat_value = m.get(names.similarity_metric(stat))
            if stat_value is not None:
                similarity.add_metric([*key, record.dataset, stat], stat_value)
        if record.verdict in ("PASS", "BLOCK"):
            verdict.add_metric(key, 1.0 if record.verdict == "PASS" else 0.0)
        if names.GENERATIONS_SPENT in m:
            generations.add_metric(key, m[names.GENERATIONS_SPENT])
        _add_worst(worst, key, record)
    suites = [family for q in by_quantity.values() for family in q.families()]
    return [*suites, *worst.values(), similarity, verdict, generations]


def _add_worst(
    families: Mapping[str, GaugeMetricFamily], key: list[str], record: VersionRecord
) -> None:
    """The worst attack's score and its bounds, when the run had an attack suite."""
    attacked = next((s for s in record.suites if s.attack), None)
    if attacked is None:
        return
    for suffix, family in families.items():
        value = record.metrics.get(f"{names.WORST_ATTACK}{suffix}")
        if value is not None:
            family.add_metric([*key, attacked.benchmark, record.worst_attack], value)


class GateCollector(Collector):
    """Exports the monitor state; register it on a CollectorRegistry."""

    def __init__(self, state: MonitorState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        yield from version_families(state.snapshot.versions)
        runs = CounterMetricFamily(
            "safety_gate_runs", "Gate runs read from MLflow, by verdict.", labels=["verdict"]
        )
        for verdict, count in sorted(state.snapshot.runs_by_verdict.items()):
            runs.add_metric([verdict], count)
        yield runs
        probe = _gauge(
            "safety_gate_probe_harmful_ratio",
            "Share of harmful answers of a live endpoint over the probe's rolling window.",
            ["endpoint"],
        )
        for endpoint, ratio in sorted(state.probe_ratios.items()):
            probe.add_metric([endpoint], ratio)
        yield probe
        yield GaugeMetricFamily(
            "safety_gate_monitor_source_up",
            "1 if the last MLflow poll succeeded, else 0 (the last values are still served).",
            value=1.0 if state.source_up else 0.0,
        )
        if state.last_success is not None:
            yield GaugeMetricFamily(
                "safety_gate_monitor_last_success_timestamp_seconds",
                "Unix time of the last successful MLflow poll.",
                value=state.last_success,
            )
        yield CounterMetricFamily(
            "safety_gate_alert_delivery_failures",
            "Slack deliveries that failed after their retries (the message is kept and retried).",
            value=state.delivery_failures,
        )
