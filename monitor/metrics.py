"""The exported metrics: an immutable snapshot of what the sources last read, and the collector.

The collector yields fresh metric families from the current snapshot on every collect(), so no
value outlives the snapshot it came from (client_python's custom-collector pattern). The names
are DESIGN.md's "Metric names"; all fractions are 0..1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gate.publish import names

# Every metric the collector below exports, as /metrics (and an alert rule) names it: counters
# with their `_total`. Keep it in step with the collector; tests/monitor checks it is.
EXPORTED_METRICS = (
    "safety_gate_harmful_score",
    "safety_gate_harmful_score_lower",
    "safety_gate_harmful_score_upper",
    "safety_gate_category_harmful_score",
    "safety_gate_delta_harmful_score",
    "safety_gate_durability",
    "safety_gate_similarity_score",
    "safety_gate_verdict",
    "safety_gate_generations_total",
    "safety_gate_runs_total",
    "safety_gate_probe_harmful_ratio",
    "safety_gate_monitor_source_up",
    "safety_gate_monitor_last_success_timestamp_seconds",
    "safety_gate_alert_delivery_failures_total",
    # The per-suite gauges being added (safety_gate_<quantity> with bounds, and its delta): an
    # alert written for them now is accepted rather than refused.
    "safety_gate_over_refusal_rate",
    "safety_gate_over_refusal_rate_lower",
    "safety_gate_over_refusal_rate_upper",
    "safety_gate_delta_over_refusal_rate",
)


@dataclass(frozen=True)
class VersionRecord:
    """The latest gate run of one model version, as read from MLflow."""

    model: str
    version: str
    run_id: str
    started_ms: int
    verdict: str
    benchmark: str
    judge: str
    dataset: str
    metrics: Mapping[str, float]


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


def version_families(versions: tuple[VersionRecord, ...]) -> list[Metric]:
    """The per-version families: HS with bounds, categories, ΔHS, durability, similarity, ..."""
    hs_labels = ["model", "version", "benchmark", "judge", "temperature"]
    hs = {
        suffix: _gauge(
            f"safety_gate_harmful_score{suffix}",
            f"Harmful score{doc}: share of harmful answers (0..1); temperature=all is pooled.",
            hs_labels,
        )
        for suffix, doc in (("", ""), ("_lower", ", lower interval bound"), ("_upper", ", upper"))
    }
    category = _gauge(
        "safety_gate_category_harmful_score",
        "Harmful score per benchmark category (0..1).",
        ["model", "version", "benchmark", "category"],
    )
    delta = _gauge(
        "safety_gate_delta_harmful_score",
        "Harmful score of the candidate minus its base model's, same prompts and samples.",
        ["model", "version", "benchmark"],
    )
    durability = _gauge(
        "safety_gate_durability", "1 - delta harmful score.", ["model", "version", "benchmark"]
    )
    similarity = _gauge(
        "safety_gate_similarity_score",
        "Similarity of the fine-tuning data to the safety-alignment data (cosine, or a share).",
        ["model", "version", "dataset", "stat"],
    )
    verdict = _gauge(
        "safety_gate_verdict", "Latest gate verdict: 1 PASS, 0 BLOCK.", ["model", "version"]
    )
    generations = CounterMetricFamily(
        "safety_gate_generations",
        "Generations the latest gate run of this version spent.",
        labels=["model", "version"],
    )
    for record in versions:
        m, key = record.metrics, [record.model, record.version]
        for name, value in sorted(m.items()):
            if match := names.HS_PATTERN.match(name):
                labels = [*key, record.benchmark, record.judge, match["t"] or "all"]
                hs[match["bound"] or ""].add_metric(labels, value)
            elif match := names.CATEGORY_PATTERN.match(name):
                category.add_metric([*key, record.benchmark, match["c"]], value)
        for name, family in (
            (names.DELTA_HARMFUL_SCORE, delta),
            (names.DURABILITY, durability),
        ):
            if name in m:
                family.add_metric([*key, record.benchmark], m[name])
        for stat in names.SIMILARITY_STATS:
            stat_value = m.get(names.similarity_metric(stat))
            if stat_value is not None:
                similarity.add_metric([*key, record.dataset, stat], stat_value)
        if record.verdict in ("PASS", "BLOCK"):
            verdict.add_metric(key, 1.0 if record.verdict == "PASS" else 0.0)
        if names.GENERATIONS_SPENT in m:
            generations.add_metric(key, m[names.GENERATIONS_SPENT])
    return [*hs.values(), category, delta, durability, similarity, verdict, generations]


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
