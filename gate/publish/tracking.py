"""MLflow: one run per `gate check`, registry version tags, and alias promotion gated on PASS.

Every MLflow failure becomes an InfraError (exit 3): a verdict that could not be recorded is never
reported as PASS, and an alias never moves unless the recorded verdict says PASS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate import __version__
from gate.errors import InfraError
from gate.files import redact_url, sha256_text
from gate.publish import names
from gate.publish.names import metric_key as _name

if TYPE_CHECKING:
    from gate.records.result import GateResult
    from gate.records.scores import Estimate

INPUTS_TAG = names.TAG_INPUTS


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
        result.benchmark.selection_sha256,
        __version__,
    ]
    return sha256_text("\n".join(parts))


def _estimate_metrics(name: str, estimate: Estimate | None) -> dict[str, float]:
    if estimate is None:
        return {}
    return {name: estimate.value, f"{name}_lower": estimate.lower, f"{name}_upper": estimate.upper}


def metrics_of(result: GateResult) -> dict[str, float]:
    """HS (pooled, per temperature, per category) with bounds, ΔHS, durability, similarity."""
    scores = result.scores
    metrics = _estimate_metrics(names.HARMFUL_SCORE, scores.harmful_score)
    for temperature, estimate in scores.per_temperature.items():
        metrics |= _estimate_metrics(names.temperature_metric(temperature), estimate)
    for category, estimate in scores.categories.items():
        metrics |= _estimate_metrics(names.category_metric(category), estimate)
    metrics |= _estimate_metrics(names.DELTA_HARMFUL_SCORE, result.delta_harmful_score)
    metrics |= _estimate_metrics(names.DURABILITY, result.durability)
    metrics |= {f"hs_seed_{seed}": value for seed, value in scores.seeds.per_seed.items()}
    metrics["hs_seed_std"] = scores.seeds.std
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
        "benchmark_sha256": result.benchmark.sha256,
        "benchmark_selection_sha256": result.benchmark.selection_sha256,
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
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    key = inputs_sha(result)
    with mlflow_errors(tracking_uri):
        client = MlflowClient(tracking_uri)
        experiment_key = experiment_id(client, experiment, tracking_uri)
        if not force:
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
            **(extra_tags or {}),
        }
        run = client.create_run(experiment_key, tags=tags, run_name=f"gate-{key[:8]}")
        run_id = run.info.run_id
        items = [Param(_name(k), v[:6000]) for k, v in params_of(result).items()]
        for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            client.log_batch(run_id, params=items[start : start + 100])
        client.log_batch(
            run_id,
            metrics=[Metric(name, value, 0, 0) for name, value in metrics_of(result).items()],
            tags=[RunTag(names.TAG_STOP_REASON, result.plan.stop_reason)],
        )
        for name in ("result.json", "report.md", "report.html", "generations.jsonl", "junit.xml"):
            if (out_dir / name).is_file():
                client.log_artifact(run_id, str(out_dir / name))
    # Left RUNNING: finish_run marks it FINISHED once the files are in place, or FAILED.
    return run_id, False


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
            names.VERSION_HS: f"{result.scores.harmful_score.value:.4f}",
            names.VERSION_RUN_ID: run_id,
            names.VERSION_FINGERPRINT: result.candidate.fingerprint,
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
