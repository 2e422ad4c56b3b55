"""Where the numbers come from: the gate's MLflow runs and registry tags, and a live probe.

A version's labels come from the registry when the gate tagged one (`safety_gate.run_id`), else
from the run itself: the model spec and the first 12 digits of its fingerprint. Finished runs
never change, so each is parsed once and kept while it is still among the runs read.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gate.data import Prompt, load_benchmark
from gate.judges import JUDGES, Judge
from monitor.config import MlflowSection, ProbeSection
from monitor.metrics import Snapshot, VersionRecord

log = logging.getLogger("gate-monitor")
_PAGE = 1000


class MlflowSource:
    """Reads the gate's runs and registry tags; `poll()` raises on any failure."""

    def __init__(self, uri: str, settings: MlflowSection) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.settings = settings
        self.client = MlflowClient(uri)
        self._missing: set[str] = set()
        self._parsed: dict[tuple[str, tuple[str, str] | None], VersionRecord] = {}

    def _registry(self) -> dict[str, tuple[str, str]]:
        """run id -> (registered model, version) for every version the gate tagged."""
        found: dict[str, tuple[str, str]] = {}
        token: str | None = None
        while True:
            page = self.client.search_model_versions(max_results=_PAGE, page_token=token)
            for version in page:
                run_id = version.tags.get("safety_gate.run_id")
                if run_id:
                    found[run_id] = (version.name, str(version.version))
            token = page.token
            if not token:
                return found

    def _runs(self) -> list[Any]:
        ids = []
        for name in self.settings.experiments:
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                ids.append(experiment.experiment_id)
                self._missing.discard(name)
            elif name not in self._missing:  # said once, not every poll
                self._missing.add(name)
                log.warning("no experiment %r at %s yet: no gate run logged there", name, self.uri)
        if not ids:
            return []
        runs: list[Any] = []
        token: str | None = None
        while len(runs) < self.settings.max_runs:
            page = self.client.search_runs(
                ids,
                filter_string="attributes.status = 'FINISHED'",
                max_results=min(_PAGE, self.settings.max_runs - len(runs)),
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                break
        return runs

    def _record(self, run: Any, registered: tuple[str, str] | None) -> VersionRecord:
        params, tags = run.data.params, run.data.tags
        if registered is not None:
            model, version = registered
        else:
            model = params.get("config.model.path", "unknown")
            version = tags.get("gate.model_fingerprint", "unknown")[:12]
        return VersionRecord(
            model=model,
            version=version,
            run_id=run.info.run_id,
            started_ms=int(run.info.start_time or 0),
            verdict=tags.get("gate.verdict", "UNKNOWN"),
            benchmark=params.get("config.benchmark.name", "unknown"),
            judge=params.get("config.judge.name", "unknown"),
            dataset=params.get("config.similarity.finetune", ""),
            metrics=dict(run.data.metrics),
        )

    def poll(self) -> Snapshot:
        registry = self._registry()
        runs = self._runs()
        parsed: dict[tuple[str, tuple[str, str] | None], VersionRecord] = {}
        latest: dict[tuple[str, str], VersionRecord] = {}
        verdicts: Counter[str] = Counter()
        for run in runs:
            run_id = run.info.run_id
            registered = registry.get(run_id)
            cache_key = (run_id, registered)
            record = self._parsed.get(cache_key) or self._record(run, registered)
            parsed[cache_key] = record
            verdicts[record.verdict] += 1
            key = (record.model, record.version)
            if key not in latest or record.started_ms > latest[key].started_ms:
                latest[key] = record
        self._parsed = parsed
        return Snapshot(versions=self._bounded(latest.values()), runs_by_verdict=dict(verdicts))

    def _bounded(self, records: Iterable[VersionRecord]) -> tuple[VersionRecord, ...]:
        """The newest `versions_per_model` versions of each model."""
        by_model: dict[str, list[VersionRecord]] = {}
        for record in sorted(records, key=lambda r: r.started_ms, reverse=True):
            kept = by_model.setdefault(record.model, [])
            if len(kept) < self.settings.versions_per_model:
                kept.append(record)
        return tuple(record for kept in by_model.values() for record in kept)


Ask = Callable[[Sequence[str]], list[str]]


class Probe:
    """Sends a few harmful prompts per round to a live chat endpoint and judges the answers."""

    def __init__(self, settings: ProbeSection, api_key: str | None, ask: Ask | None = None) -> None:
        self.settings = settings
        self.api_key = api_key
        self.prompts: tuple[Prompt, ...] = load_benchmark(settings.benchmark).prompts
        self.judge: Judge = JUDGES.create(settings.judge)
        self.window: deque[bool] = deque(maxlen=settings.window)
        self._next = 0
        self._ask = ask or self._chat

    def _chat(self, prompts: Sequence[str]) -> list[str]:
        import requests

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        answers = []
        for prompt in prompts:
            response = requests.post(
                f"{self.settings.endpoint}/chat/completions",
                json={
                    "model": self.settings.model,
                    "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": self.settings.max_tokens,
                    "temperature": self.settings.temperature,
                },
                headers=headers,
                timeout=self.settings.timeout_seconds,
            )
            response.raise_for_status()
            answers.append(str(response.json()["choices"][0]["message"]["content"] or ""))
        return answers

    def round(self) -> float:
        """Ask the next prompts (cycling through the benchmark); the rolling harmful ratio."""
        count = self.settings.prompts_per_poll
        chosen = [self.prompts[(self._next + i) % len(self.prompts)] for i in range(count)]
        answers = self._ask([prompt.text for prompt in chosen])
        judgements = self.judge.judge(list(zip([p.text for p in chosen], answers, strict=True)))
        self._next = (self._next + count) % len(self.prompts)
        self.window.extend(judgement.harmful for judgement in judgements)
        return sum(self.window) / len(self.window)
