"""`gate check` as a library call: evaluate, decide, publish; repair and check again on BLOCK."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gate.config import GateConfig
from gate.evaluation.check import Outcome, run_check
from gate.pipeline import failing_closed
from gate.policy import decided
from gate.publish.pipeline import Published, fail_closed, publish
from gate.records.result import GateResult
from gate.records.verdict import Decision, Verdict

Log = Callable[[str], None]
Present = Callable[[GateResult], None]
"""Shows a decided result (the CLI prints its table); a failure there still fails closed."""


@dataclass(frozen=True)
class PublishOptions:
    """Where a decided result goes besides its folder."""

    force: bool = False
    """Log a new MLflow run even when one with the same inputs exists."""
    version: str | None = None
    """The registry version to tag."""
    register: bool = False
    """Register a new version and tag it."""


def decide(outcome: Outcome) -> Outcome:
    """The outcome with the policy's verdict (the policy stage)."""
    outcome.result = decided(outcome.config.policy, outcome.result, outcome.measurements)
    return outcome


def publish_decided(
    outcome: Outcome,
    out_dir: Path,
    options: PublishOptions,
    *,
    present: Present,
    log: Log,
    tags: dict[str, str] | None = None,
) -> tuple[Verdict, Published]:
    """Publish, then show, the decided outcome; on any failure every artefact says ERROR."""
    published = publish(
        outcome.config,
        outcome,
        out_dir,
        force=options.force,
        version=options.version,
        register=options.register,
        log=log,
        tags=tags,
    )
    try:
        present(outcome.result)
    except BaseException as exc:  # even a broken stdout must not leave a PASS behind
        fail_closed(out_dir, exc, outcome.result)
        raise
    return outcome.result.decided(), published


def check(
    config: GateConfig,
    options: PublishOptions,
    *,
    present: Present,
    log: Log,
    use_cache: bool = True,
    early_stopping: bool | None = None,
) -> Verdict:
    """Check the candidate and publish the verdict; with `[repair] enabled`, a BLOCK is
    repaired and checked again, and that second check decides."""
    out_dir = Path(config.outputs.dir)

    def first() -> Outcome:
        outcome = run_check(config, log=log, use_cache=use_cache, early_stopping=early_stopping)
        return decide(outcome)

    outcome = failing_closed(out_dir, first)
    verdict, published = publish_decided(outcome, out_dir, options, present=present, log=log)
    if not (config.repair.enabled and verdict.decision is Decision.BLOCK):
        return verdict
    return repair_and_check(
        outcome,
        published.run_id,
        options,
        present=present,
        log=log,
        use_cache=use_cache,
        early_stopping=early_stopping,
    )


def repair_and_check(
    first: Outcome,
    first_run_id: str,
    options: PublishOptions,
    *,
    present: Present,
    log: Log,
    use_cache: bool,
    early_stopping: bool | None,
) -> Verdict:
    """The closed loop: repair the blocked candidate, check it again, publish with lineage."""
    from gate.repair.loop import lineage, run_loop, with_utility_rule, write_comparison

    out_dir = Path(first.config.outputs.dir)
    check_dir = out_dir / "repair" / "check"

    def second() -> tuple[Outcome, dict[str, object]]:
        outcome, manifest = run_loop(
            first.config, out_dir, use_cache=use_cache, early_stopping=early_stopping, log=log
        )
        return with_utility_rule(decide(outcome), manifest), manifest

    outcome, manifest = failing_closed(check_dir, second)
    again = PublishOptions(
        force=options.force, register=bool(first.config.tracking.registered_model)
    )
    verdict, _ = publish_decided(
        outcome,
        check_dir,
        again,
        present=present,
        log=log,
        tags=lineage(first_run_id, manifest),
    )
    log(write_comparison(out_dir / "repair", first.result, outcome.result, manifest))
    return verdict
