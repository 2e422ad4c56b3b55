"""Publish a decided result: files, MLflow and the registry, then Slack and GitHub.

The files are staged and moved into place only after MLflow took the run, verdict.json last; any
failure on the way leaves every artefact saying ERROR (artifacts.write_failure) and re-raises.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import GateError, InfraError
from gate.files import redact_url
from gate.publish import names
from gate.publish.artifacts import commit, staged, write_failure, write_result_files
from gate.records.verdict import Decision

if TYPE_CHECKING:
    from gate.config import GateConfig
    from gate.evaluation.check import Outcome
    from gate.records.result import GateResult

Log = Callable[[str], None]


@dataclass(frozen=True)
class Published:
    """Where the result went."""

    run_id: str = ""
    run_url: str | None = None
    where: str = ""
    uri: str = ""
    reused: bool = False


def publish(
    config: GateConfig,
    outcome: Outcome,
    out_dir: Path,
    *,
    force: bool = False,
    version: str | None = None,
    register: bool = False,
    log: Log = lambda _: None,
    tags: dict[str, str] | None = None,
) -> Published:
    """Write, record and announce a decided result; on failure every artefact says ERROR.

    `tags` are added to the MLflow run (a repaired run's lineage)."""
    result = outcome.result
    roles = [(subject.role, subject.records) for subject in outcome.subjects]
    published = Published()
    try:
        with staged(out_dir) as staging:
            write_result_files(staging, result, roles)
            if config.tracking.enabled:  # unrecorded means undecided: never PASS
                published = _track(config, result, staging, out_dir, force, log, tags or {})
            commit(staging, out_dir, result.decided())
        if published.run_id and not published.reused:
            from gate.publish.tracking import finish_run

            finish_run(published.uri, published.run_id, ok=True)
        _tag_registry(config, result, published, version, register, log)
        _publish_to_github(out_dir, result, published.run_id)
    except BaseException as exc:
        fail_closed(out_dir, exc, result, published)
        if isinstance(exc, OSError):  # a full disk, a read-only folder: the machine, not the gate
            raise InfraError(
                f"could not write the outputs to {out_dir}: {exc.strerror or exc}"
            ) from exc
        raise
    if result.decided().decision is Decision.BLOCK and config.slack.webhook_env:
        _notify_slack(config.slack.webhook_env, result, published.run_url, version, log)
    log(f"wrote {out_dir / 'report.md'} and {out_dir / 'result.json'}")
    if published.where:
        log(published.where)
    return published


def fail_closed(
    out_dir: Path, exc: BaseException, result: GateResult, published: Published | None = None
) -> None:
    """Every file says ERROR, and an MLflow run this attempt opened is marked FAILED."""
    write_failure(out_dir, f"publishing failed: {exc}", result)
    if published is not None and published.run_id and not published.reused:
        from gate.publish.tracking import finish_run

        finish_run(published.uri, published.run_id, ok=False)


def _tag_registry(
    config: GateConfig,
    result: GateResult,
    published: Published,
    version: str | None,
    register: bool,
    log: Log,
) -> None:
    """Tag the registry version, only once the verdict is on disk and its run finished."""
    model = config.tracking.registered_model
    if not (published.run_id and model and (version or register)):
        return
    from gate.publish.tracking import tag_version

    tagged = tag_version(
        result,
        published.run_id,
        tracking_uri=published.uri,
        model=model,
        version=version,
        register=register,
    )
    log(f"tagged {model} version {tagged} with the verdict")


def _track(
    config: GateConfig,
    result: GateResult,
    files: Path,
    out_dir: Path,
    force: bool,
    log: Log,
    extra: dict[str, str],
) -> Published:
    """Log to MLflow (the files from `files`); the run stays RUNNING until finish_run."""
    from gate.publish import names
    from gate.publish.tracking import log_check

    uri = (
        config.tracking.uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{(out_dir / 'mlflow.db').resolve()}"
    )
    tags = dict(extra)
    server, repo, run = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        tags[names.TAG_GITHUB_RUN_URL] = f"{server}/{repo}/actions/runs/{run}"
    if os.environ.get("GITHUB_SHA"):
        tags[names.TAG_GIT_COMMIT] = os.environ["GITHUB_SHA"]
    run_id, reused = log_check(
        result,
        files,
        tracking_uri=uri,
        experiment=config.tracking.experiment,
        force=force,
        extra_tags=tags,
    )
    shown = redact_url(uri)
    where = f"MLflow run {run_id} ({'reused: same inputs' if reused else 'logged'}) at {shown}"
    if uri.startswith("sqlite:"):
        where += f"\nopen it with: mlflow ui --backend-store-uri {uri}"
    link = tags.get(names.TAG_GITHUB_RUN_URL)
    if link is None and uri.startswith(("http://", "https://")):
        link = f"{redact_url(uri).rstrip('/')}/#/runs/{run_id}"
    return Published(run_id, link, where, uri, reused)


def _notify_slack(
    variable: str, result: GateResult, run_url: str | None, version: str | None, log: Log
) -> None:
    """Post the BLOCK to Slack; a failed delivery is reported but does not change the verdict."""
    from gate.publish.slack import build_message, send

    webhook = os.environ.get(variable)
    if not webhook:
        log(f"warning: ${variable} is not set; no Slack message sent")
        return
    try:
        send(webhook, build_message(result, run_url=run_url, model_version=version))
    except GateError as exc:
        log(f"warning: {exc}")
        return
    log("posted the verdict to Slack")


def _publish_to_github(out_dir: Path, result: GateResult, run_id: str = "") -> None:
    """In GitHub Actions: the markdown report into the job summary, the verdict into outputs."""
    from gate.publish.reports.github import append_outputs, append_summary

    summary, outputs = os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT")
    if summary:
        append_summary(Path(summary), (out_dir / "report.md").read_text(encoding="utf-8"))
    if outputs:
        append_outputs(
            Path(outputs),
            {
                "verdict": result.decided().decision.value,
                "hs": f"{result.primary.candidate.pooled.value:.4f}",
                # each other suite's figure under its metric name: `over_refusal`, `ahs_base64`
                **{
                    re.sub(r"[^\w-]", "_", s.metric): f"{s.candidate.pooled.value:.4f}"
                    for s in result.suites[1:]
                },
                **(
                    {names.WORST_ATTACK: f"{result.worst_attack.estimate.value:.4f}"}
                    if result.worst_attack is not None
                    else {}
                ),
                "run_id": run_id,
                "fingerprint": result.candidate.fingerprint,
                "report": str(out_dir / "report.md"),
            },
        )
