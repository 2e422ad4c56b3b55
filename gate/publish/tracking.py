"""MLflow: the one run writer (checks, fine-tunes, judge agreement), registry version tags, and
alias promotion gated on PASS.

Every MLflow failure becomes an InfraError (exit 3): a verdict that could not be recorded is never
reported as PASS, and an alias never moves unless the recorded verdict says PASS.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate import __version__
from gate.errors import InfraError
from gate.files import redact_url, sha256_text
from gate.publish import names
from gate.publish.names import metric_key as _name

if TYPE_CHECKING:
    from gate.config import JudgeSection
    from gate.judges.agreement import Agreement
    from gate.judges.labels import LabelledPairs
    from gate.records.result import GateResult
    from gate.records.scores import Estimate

INPUTS_TAG = names.TAG_INPUTS
JUDGES_EXPERIMENT = "safety-gate-judges"
# MLflow refuses a longer param value, and a batch of more than 100 params or 1000 metrics.
PARAM_VALUE_LIMIT = 6000
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


@contextmanager
def mlflow_errors(uri: str) -> Iterator[None]:
    """Turn any MLflow or network failure into one InfraError line naming the server."""
    try:
        yield
    except InfraError:
        raise
    except Exception as exc:  # MlflowException, requests errors, sqlite errors, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InfraError(
            f"MLflow at {redact_url(uri)} failed: {first[:300].replace(uri, redact_url(uri))}",
            hint="check MLFLOW_TRACKING_URI and that the server is up",
        ) from exc


def local_artifact_root(tracking_uri: str) -> str | None:
    """For `sqlite:///path/to/db`, the folder `mlartifacts` beside the database; else None."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.parent / "mlartifacts").resolve().as_uri()


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"sampling.seeds": "[0, 1, 2]", ...}."""
    if isinstance(value, Mapping):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat |= flatten(item, f"{prefix}{key}.")
        return flat
    return {prefix.rstrip("."): str(value)}


def inputs_sha(result: GateResult) -> str:
    """What makes two runs the same: config, models, benchmark selection, gate version."""
    parts = [
        result.config_sha256,
        result.candidate.fingerprint,
        result.base.fingerprint if result.base else "",
        *(suite.benchmark.selection_sha256 for suite in result.suites),
        __version__,
    ]
    return sha256_text("\n".join(parts))


def _estimate_metrics(name: str, estimate: Estimate | None) -> dict[str, float]:
    if estimate is None:
        return {}
    return {name: estimate.value, f"{name}_lower": estimate.lower, f"{name}_upper": estimate.upper}


def metrics_of(result: GateResult) -> dict[str, float]:
    """Each suite's figure (pooled, per temperature, per category) with bounds, its delta and
    complement against the base, per-seed figures; similarity; what the plan spent."""
    metrics: dict[str, float] = {}
    for suite in result.suites:
        scores, metric = suite.candidate, suite.metric
        metrics |= _estimate_metrics(metric, scores.pooled)
        for temperature, estimate in scores.per_temperature.items():
            metrics |= _estimate_metrics(names.temperature_metric(temperature, metric), estimate)
        for category, estimate in scores.categories.items():
            metrics |= _estimate_metrics(names.category_metric(category, metric), estimate)
        for name, derived in suite.derived.items():
            key = names.delta_metric(metric) if name.startswith("delta_") else name
            metrics |= _estimate_metrics(key, derived)
        metrics |= {f"{metric}_seed_{s}": value for s, value in scores.seeds.per_seed.items()}
        metrics[f"{metric}_seed_std"] = scores.seeds.std
    if result.worst_attack is not None:
        metrics |= _estimate_metrics(names.WORST_ATTACK, result.worst_attack.estimate)
    if result.similarity is not None:
        for stat in names.SIMILARITY_STATS:
            metrics[names.similarity_metric(stat)] = float(getattr(result.similarity, stat))
    plan = result.plan
    metrics |= {
        names.GENERATIONS_SPENT: plan.generations_spent,
        names.GENERATIONS_SAVED: plan.generations_saved,
        names.WALL_SECONDS: result.seconds.get("total", 0.0),
    }
    return {key: float(value) for key, value in metrics.items()}


def params_of(result: GateResult) -> dict[str, str]:
    """The flattened config and the hashes of every input."""
    return flatten(result.config, "config.") | {
        "candidate_fingerprint": result.candidate.fingerprint,
        "base_fingerprint": result.base.fingerprint if result.base else "",
        # The headline suite's benchmark hashes keep the names runs had before suites.
        "benchmark_sha256": result.primary.benchmark.sha256,
        "benchmark_selection_sha256": result.primary.benchmark.selection_sha256,
        **{
            names.suite_param(suite.name, field): value
            for suite in result.suites
            for field, value in (
                ("metric", suite.metric),
                ("quantity", suite.quantity),
                (
                    "complement",
                    next((n for n in suite.derived if n != f"delta_{suite.quantity}"), ""),
                ),
                ("benchmark", suite.benchmark.name),
                ("judge", suite.judge.name),
                ("benchmark_sha256", suite.benchmark.sha256),
                ("benchmark_selection_sha256", suite.benchmark.selection_sha256),
                *(
                    ()
                    if suite.attack is None
                    else (
                        ("attack", suite.attack.name),
                        ("attack_version", str(suite.attack.version)),
                        ("family", suite.attack.family),
                    )
                ),
            )
        },
        **(
            {names.PARAM_WORST_ATTACK: result.worst_attack.attack}
            if result.worst_attack is not None
            else {}
        ),
        names.PARAM_SUITES: ",".join(suite.name for suite in result.suites),
        "gate_version": __version__,
    }


def experiment_id(client: Any, experiment: str, tracking_uri: str) -> str:
    """The experiment's id, created (artifacts beside a local store) when it is new."""
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    return str(
        client.create_experiment(experiment, artifact_location=local_artifact_root(tracking_uri))
    )


def log_run(
    tracking_uri: str,
    experiment: str,
    *,
    run_name: str | None = None,
    params: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    tags: Mapping[str, str] | None = None,
    artifacts: Iterable[Path] = (),
    finish: bool = True,
) -> str:
    """One MLflow run of params, metrics, (step, value) curves, tags and files; returns its id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    with mlflow_errors(tracking_uri):
        client = MlflowClient(tracking_uri)
        key = experiment_id(client, experiment, tracking_uri)
        run_id = str(client.create_run(key, tags=dict(tags or {}), run_name=run_name).info.run_id)
        items = [Param(_name(k), str(v)[:PARAM_VALUE_LIMIT]) for k, v in (params or {}).items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            client.log_batch(run_id, params=items[start : start + PARAMS_PER_BATCH])
        now = int(time.time() * 1000)
        points = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        points += [Metric(k, float(v), now, step) for k, curve in (curves or {}).items()
                   for step, v in curve]  # fmt: skip
        for start in range(0, len(points), METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=points[start : start + METRICS_PER_BATCH])
        for path in artifacts:
            client.log_artifact(run_id, str(path))
        if finish:
            client.set_terminated(run_id)
    return run_id


def log_check(
    result: GateResult,
    out_dir: Path,
    *,
    tracking_uri: str,
    experiment: str,
    force: bool = False,
    extra_tags: Mapping[str, str] | None = None,
) -> tuple[str, bool]:
    """Log the run (or find the earlier one with the same inputs); returns (run id, reused).

    A new experiment in a local SQLite store keeps its artifacts beside the database: MLflow's
    own default is ./mlruns under whatever directory the gate happens to run in.
    """
    from mlflow.tracking import MlflowClient

    key = inputs_sha(result)
    if not force:
        with mlflow_errors(tracking_uri):
            client = MlflowClient(tracking_uri)
            experiment_key = experiment_id(client, experiment, tracking_uri)
            # Only a run that finished: one left RUNNING by a crash has no artifacts, and one
            # marked FAILED was never published.
            query = f"tags.`{INPUTS_TAG}` = '{key}' and attributes.status = 'FINISHED'"
            earlier = client.search_runs([experiment_key], query, max_results=1)
            if earlier:
                return earlier[0].info.run_id, True
    tags = {
        INPUTS_TAG: key,
        names.TAG_VERDICT: result.decided().decision.value,
        names.TAG_FINGERPRINT: result.candidate.fingerprint,
        names.TAG_CONFIG: result.config_sha256,
        names.TAG_VERSION: __version__,
        names.TAG_STOP_REASON: result.plan.stop_reason,
        **(extra_tags or {}),
    }
    files = ("result.json", "report.md", "report.html", "generations.jsonl", "junit.xml")
    run_id = log_run(
        tracking_uri,
        experiment,
        run_name=f"gate-{key[:8]}",
        params=params_of(result),
        metrics=metrics_of(result),
        tags=tags,
        artifacts=[out_dir / name for name in files if (out_dir / name).is_file()],
        finish=False,  # left RUNNING: finish_run marks it FINISHED once published, or FAILED
    )
    return run_id, False


def log_agreement(
    tracking_uri: str, measured: Agreement, judge: JudgeSection, pairs: LabelledPairs
) -> str:
    """One run in the judges' experiment: a judge's agreement with human labels; returns its id."""
    figures = ("accuracy", "precision", "recall", "specificity", "f1", "kappa")
    values = {name: getattr(measured, name).value for name in figures}
    return log_run(
        tracking_uri,
        JUDGES_EXPERIMENT,
        params=flatten({"judge": judge.model_dump(mode="json")}) | {"labels_sha256": pairs.sha256},
        metrics={name: value for name, value in values.items() if value is not None},
        tags={names.TAG_JUDGE: judge.name},
    )


def finish_run(tracking_uri: str, run_id: str, *, ok: bool) -> None:
    """FINISHED once everything was published; else FAILED with an ERROR verdict tag.

    The failure path is best effort: it runs while another error is already being reported.
    """
    from mlflow.tracking import MlflowClient

    if ok:
        with mlflow_errors(tracking_uri):
            MlflowClient(tracking_uri).set_terminated(run_id)
        return
    try:
        client = MlflowClient(tracking_uri)
        client.set_tag(run_id, names.TAG_VERDICT, "ERROR")
        client.set_terminated(run_id, status="FAILED")
    except Exception:  # noqa: S110 - the original failure is the one to report
        pass


def tag_version(
    result: GateResult,
    run_id: str,
    *,
    tracking_uri: str,
    model: str,
    version: str | None,
    register: bool,
) -> str:
    """Tag a registered model version (creating it with `register`) with the gate's record."""
    from mlflow.tracking import MlflowClient

    with mlflow_errors(tracking_uri):
        client = MlflowClient(tracking_uri)
        if register:
            try:
                client.get_registered_model(model)
            except Exception:
                client.create_registered_model(model)
            created = client.create_model_version(
                model, f"runs:/{run_id}/checkpoint", run_id=run_id
            )
            version = created.version
        if version is None:
            raise InfraError("a registry version is needed: pass --version V or --register")
        tags = {
            names.VERSION_VERDICT: result.decided().decision.value,
            names.VERSION_HS: f"{result.primary.candidate.pooled.value:.4f}",
            names.VERSION_RUN_ID: run_id,
            names.VERSION_FINGERPRINT: result.candidate.fingerprint,
            # every other suite's figure too: `safety_gate.over_refusal`
            **{
                f"safety_gate.{s.metric}": f"{s.candidate.pooled.value:.4f}"
                for s in result.suites[1:]
            },
            **(
                {f"safety_gate.{names.WORST_ATTACK}": f"{result.worst_attack.estimate.value:.4f}"}
                if result.worst_attack is not None
                else {}
            ),
        }
        for key, value in tags.items():
            client.set_model_version_tag(model, str(version), key, value)
    return str(version)


def promote(
    *, tracking_uri: str, model: str, version: str, alias: str, fingerprint: str
) -> tuple[bool, str]:
    """Move `alias` to the version only if its verdict is PASS and its fingerprint matches."""
    from mlflow.tracking import MlflowClient

    with mlflow_errors(tracking_uri):
        client = MlflowClient(tracking_uri)
        tags = client.get_model_version(model, version).tags
        verdict = tags.get(names.VERSION_VERDICT)
        recorded = tags.get(names.VERSION_FINGERPRINT)
        if verdict != "PASS":
            return False, f"{model} version {version} has verdict {verdict or 'none recorded'}"
        if recorded != fingerprint:
            return False, (
                f"{model} version {version} was gated as {str(recorded)[:12]}, "
                f"not {fingerprint[:12]}: the checkpoint changed since the check"
            )
        client.set_registered_model_alias(model, alias, version)
    return True, f"{model}@{alias} -> version {version}"
