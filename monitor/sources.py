"""Where the numbers come from: the gate's MLflow runs and registry tags, and a live probe.

A version's labels come from the registry when the gate tagged one (`safety_gate.run_id`), else
from the run itself: the model spec and the first 12 digits of its fingerprint. Finished runs
never change, so each is parsed once and kept while it is still among the runs read.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import InfraError
from gate.publish import names
from monitor.config import MlflowSection, ProbeSection
from monitor.metrics import Snapshot, VersionRecord

if TYPE_CHECKING:
    from gate.generate import Generator

log = logging.getLogger("gate-monitor")
_PAGE = 1000


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when nothing is there."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def suites_of(params: Mapping[str, str]) -> tuple[names.SuiteNames, ...]:
    """The suites a run's params name; a run logged before suites had the harmful one alone."""
    listed = [name for name in params.get(names.PARAM_SUITES, "").split(",") if name]
    if not listed:
        return (
            replace(
                names.HEADLINE,
                benchmark=params.get(names.PARAM_BENCHMARK, "unknown"),
                judge=params.get(names.PARAM_JUDGE, "unknown"),
            ),
        )
    return tuple(
        names.SuiteNames(
            name, **{f: params.get(names.suite_param(name, f), "") for f in names.SUITE_FIELDS}
        )
        for name in listed
    )


class MlflowSource:
    """Reads the gate's runs and registry tags; `poll()` raises on any failure."""

    def __init__(self, uri: str, settings: MlflowSection) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.settings = settings
        self.client = MlflowClient(uri)
        self._database = (
            Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
        )
        # An open SQLite connection keeps reading a file that was moved or deleted; the file's
        # identity at start is what each poll checks the configured path against.
        self._identity = _file_identity(self._database) if self._database else None
        self._missing: set[str] = set()
        self._parsed: dict[tuple[str, tuple[str, str] | None], VersionRecord] = {}

    def _registry(self) -> dict[str, tuple[str, str]]:
        """run id -> (registered model, version) for every version the gate tagged."""
        found: dict[str, tuple[str, str]] = {}
        token: str | None = None
        while True:
            page = self.client.search_model_versions(max_results=_PAGE, page_token=token)
            for version in page:
                run_id = version.tags.get(names.VERSION_RUN_ID)
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
            model = params.get(names.PARAM_MODEL, "unknown")
            version = tags.get(names.TAG_FINGERPRINT, "unknown")[:12]
        return VersionRecord(
            model=model,
            version=version,
            run_id=run.info.run_id,
            started_ms=int(run.info.start_time or 0),
            verdict=tags.get(names.TAG_VERDICT, "UNKNOWN"),
            suites=suites_of(params),
            dataset=params.get(names.PARAM_DATASET, ""),
            metrics=dict(run.data.metrics),
            worst_attack=params.get(names.PARAM_WORST_ATTACK, ""),
        )

    def poll(self) -> Snapshot:
        if self._database is not None and _file_identity(self._database) != self._identity:
            raise InfraError(
                f"the MLflow database {self._database} was moved, replaced or deleted",
                hint="restore it, or restart gate-monitor on the new path",
            )
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


class Probe:
    """Sends a few harmful prompts per round to a live chat endpoint and judges the answers.

    It goes through the gate's engine: the `openai` generation backend, opened (and checked to
    serve the model) as the gate opens it, and a registered judge, loaded only when configured.
    """

    def __init__(self, settings: ProbeSection) -> None:
        from gate.evaluation.data import load_benchmark
        from gate.judges import open_judge

        self.settings = settings
        self.prompts = load_benchmark(settings.benchmark).prompts
        self.judge = open_judge(settings.judge)
        self.generator: Generator | None = None
        self.window: deque[bool] = deque(maxlen=settings.window)
        self._next = 0
        # The service logs one line per poll itself; the engine's progress lines go nowhere.
        self._quiet = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the probe

    def _open(self) -> Generator:
        """The endpoint's backend, opened on the first round: a server still starting when the
        monitor does fails a round (logged, retried next poll), not the service."""
        if self.generator is None:
            from gate.files import default_cache_dir
            from gate.generate import BackendTarget, open_backend
            from gate.models import ModelSpec

            settings = self.settings
            options = {
                "base_url": settings.endpoint,
                "served_model": settings.model,
                "api_key_env": settings.api_key_env,
                "timeout_seconds": settings.timeout_seconds,
                "max_retries": 0,  # a failed round is logged and the next poll tries again
            }
            target = BackendTarget(ModelSpec(settings.model, default_cache_dir()))
            self.generator = open_backend("openai", options, target, store=None)
        return self.generator

    def round(self) -> float:
        """Ask the next prompts (cycling through the benchmark); the rolling harmful ratio."""
        from gate.evaluation.engine import evaluate_requests
        from gate.evaluation.plan import requests_for
        from gate.generate import Sampling

        count = self.settings.prompts_per_poll
        chosen = [self.prompts[(self._next + i) % len(self.prompts)] for i in range(count)]
        sampling = Sampling(self.settings.temperature, max_new_tokens=self.settings.max_tokens)
        unique = list({p.id: p for p in chosen}.values())
        evaluation = evaluate_requests(
            unique,
            requests_for(chosen, [sampling]),
            self._open(),
            self.judge,
            progress_stream=self._quiet,
            description="probe",
        )
        self._next = (self._next + count) % len(self.prompts)
        self.window.extend(record.judgement.flagged for record in evaluation.records)
        return sum(self.window) / len(self.window)
