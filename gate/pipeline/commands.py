"""`gate eval`, `gate merge` and `gate judge` as library calls, failing closed like a check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gate.config import GateConfig, JudgeSection
from gate.evaluation.check import Outcome, run_eval
from gate.evaluation.shards import ShardResult, merge, run_shard
from gate.pipeline import failing_closed
from gate.pipeline.check import Log, Present, PublishOptions, decide, publish_decided
from gate.records.result import GateResult
from gate.records.verdict import Verdict


def evaluate(config: GateConfig, out: Path, *, log: Log, use_cache: bool = True) -> GateResult:
    """Measure without deciding: result.json and generations.jsonl in `out`."""
    from gate.publish.artifacts import clear_decision, write_result_files

    clear_decision(out)  # a verdict an earlier check left here is not this run's

    def run() -> GateResult:
        outcome = run_eval(config, log=log, use_cache=use_cache)
        write_result_files(out, outcome.result, outcome_roles(outcome))
        return outcome.result

    result = failing_closed(out, run, create=False)
    log(f"wrote {out / 'result.json'}")
    return result


def evaluate_shard(
    config: GateConfig, index: int, count: int, out: Path, *, log: Log, use_cache: bool = True
) -> ShardResult:
    """One shard of the plan, written to `out` for `gate merge`."""
    return failing_closed(
        out,
        lambda: run_shard(config, index, count, out, log=log, use_cache=use_cache),
        create=False,
    )


def merge_shards(
    folders: Sequence[Path],
    out: Path,
    tracking: dict[str, Any],
    options: PublishOptions,
    *,
    present: Present,
    log: Log,
) -> Verdict:
    """Decide over the shards' answers and publish; `tracking` overrides the shards' [tracking]."""

    def run() -> Outcome:
        outcome = merge(list(folders), log=log)
        section = outcome.config.tracking.model_copy(
            update={k: v for k, v in tracking.items() if v is not None}
        )
        outcome.config = outcome.config.model_copy(update={"tracking": section})
        return decide(outcome)

    outcome = failing_closed(out, run)
    verdict, _ = publish_decided(outcome, out, options, present=present, log=log)
    return verdict


def rejudge_answers(
    generations: Path, judge: JudgeSection, out: Path, *, log: Log, use_cache: bool = True
) -> GateResult:
    """Judge stored answers again; the verdict too when the source run decided one."""
    from gate.evaluation.rejudge import rejudge
    from gate.publish.artifacts import commit, staged, write_result_files

    def run() -> GateResult:
        outcome = rejudge(generations, judge, log=log, use_cache=use_cache)
        if outcome.decides:
            outcome = decide(outcome)
        with staged(out) as staging:
            write_result_files(staging, outcome.result, outcome_roles(outcome))
            commit(staging, out, outcome.result.verdict)
        return outcome.result

    result = failing_closed(out, run, "re-judging failed: ")
    log(f"wrote {out / 'result.json'}")
    return result


def outcome_roles(outcome: Outcome) -> list[tuple[str, Any]]:
    """(model role, judged generations) of every subject, for the files."""
    return [(subject.role, subject.records) for subject in outcome.subjects]


def judge_agreement(
    judge: JudgeSection,
    labels: Path,
    cache_dir: Path,
    *,
    out: Path | None,
    tracking_uri: str | None,
    log: Log,
    use_cache: bool = True,
) -> Any:
    """A judge's agreement with human labels; written to `out` and logged to MLflow if asked."""
    from gate.judges import JudgeContext, open_judge
    from gate.judges.labels import read_labels, write_agreement
    from gate.plugins import JUDGE_FAMILIES, judge_family
    from gate.publish.tracking import log_agreement

    # A refusal judge is measured on `refused` labels, a harm judge on `harmful` ones.
    field = JUDGE_FAMILIES.get(judge_family(judge.name), "flagged")
    pairs = read_labels(labels, field)
    log(f"{len(pairs.labels)} answers labelled {field} or not, from {labels}")
    opened = open_judge(judge.name, judge.options, JudgeContext(cache_dir, use_cache))
    measured = pairs.agreement(judge.name, [c.flagged for c in opened.judge(pairs.texts)])
    if out is not None:
        write_agreement(out, measured, judge, pairs)
    if tracking_uri:
        log_agreement(tracking_uri, measured, judge, pairs)
    return measured
