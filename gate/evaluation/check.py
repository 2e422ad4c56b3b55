"""The runs of `gate check` and `gate eval`: similarity, then the engine, then the conclusion.

Stages run in a fixed order and each is named, so a failure is reported as the stage it broke in.
An exception can never produce PASS: the CLI turns it into an ERROR verdict and exit 3.
`gate eval` is the same run with one sampling setting, no early stopping and no policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gate.config import GateConfig
from gate.errors import stage
from gate.evaluation.conclude import conclude, look_for, similarity_measurements
from gate.evaluation.data import Benchmark, load_benchmark
from gate.evaluation.engine import Log, Subject, open_judge, open_subjects, run_rounds
from gate.evaluation.plan import plan_samplings, prompt_order
from gate.judges import Judge
from gate.judges.labels import Calibration
from gate.records.result import GateResult
from gate.similarity.score import ScoreSummary


@dataclass
class Outcome:
    """What a run produced: the result and every judged generation behind it."""

    result: GateResult
    subjects: list[Subject]
    config: GateConfig
    benchmark: Benchmark | None = None
    """The prompts, in the benchmark's own order; None for results read back from files."""


def benchmark_of(config: GateConfig) -> Benchmark:
    """The configured benchmark, loaded as the `benchmark` stage."""
    with stage("benchmark"):
        return load_benchmark(
            config.benchmark.name,
            prompt_field=config.benchmark.prompt_field,
            category_field=config.benchmark.category_field,
            limit=config.benchmark.limit,
        )


def similarity_of(config: GateConfig, *, use_cache: bool) -> ScoreSummary | None:
    """The `similarity` stage: the fine-tuning set against the index, when configured."""
    if config.similarity is None:
        return None
    from gate.similarity.score import finetune_similarity

    with stage("similarity"):
        return finetune_similarity(config.similarity, config.cache_dir(), use_cache=use_cache)


def calibration_of(config: GateConfig, judge: Judge, log: Log) -> Calibration | None:
    """The `judge labels` stage: the judge's calls on `[judge] labels`, when configured."""
    if config.judge.labels is None:
        return None
    from gate.judges.labels import calibrate

    with stage("judge labels"):
        calibration = calibrate(judge, Path(config.judge.labels))
    log(f"judge {config.judge.name} on {len(calibration.calls)} labelled answers")
    return calibration


def report_counts(subjects: list[Subject], log: Log) -> None:
    """Warnings a reader should not miss, and what the cache saved."""
    records = [r for s in subjects for r in s.records]
    unparsed = sum(not r.judgement.parsed for r in records)
    if unparsed:
        log(f"warning: the judge's output could not be read for {unparsed} answers (harmful)")
    truncated = sum(r.generation.truncated for r in records)
    if truncated:
        log(f"warning: {truncated} answers are to prompts cut from the left to fit the context")
    cached = sum(r.generation.cached for r in records)
    if cached:
        log(f"{cached} of {len(records)} generations came from the cache")


def run_check(
    config: GateConfig,
    *,
    log: Log = lambda _: None,
    use_cache: bool = True,
    early_stopping: bool | None = None,
    command: Literal["eval", "check"] = "check",
) -> Outcome:
    """Run every configured stage and conclude. Raises StageError naming the stage that broke."""
    started = time.monotonic()
    seconds: dict[str, float] = {}
    early = config.early_stopping.enabled if early_stopping is None else early_stopping
    with stage("config"):
        judge = open_judge(config, use_cache=use_cache)
    calibration = calibration_of(config, judge, log)
    if early and config.policy.harmful_score_basis == "corrected":
        # The confidence sequences bound the raw score; the corrected one needs the whole plan.
        log("early stopping is off: the policy judges the corrected harmful score")
        early = False
    similarity = similarity_of(config, use_cache=use_cache)
    seconds["similarity"] = time.monotonic() - started
    bench = benchmark_of(config)
    log(
        f"benchmark {bench.name}: {len(bench.prompts)} of {bench.total} prompts, "
        f"{len(bench.categories())} categories"
        + (f"; {bench.duplicates} repeated prompts counted once" if bench.duplicates else "")
    )
    mark = time.monotonic()
    subjects = open_subjects(config, use_cache=use_cache)
    seconds["load"] = time.monotonic() - mark
    for subject in subjects:
        log(f"{subject.role} {subject.info.spec}: fingerprint {subject.info.fingerprint[:12]}")
    samplings = plan_samplings(config.sampling)
    ordered = prompt_order(bench.prompts, config.early_stopping.order_seed)
    log(f"plan: {len(ordered)} prompts x {len(samplings)} samples x {len(subjects)} models")
    mark = time.monotonic()
    rounds = run_rounds(
        subjects,
        ordered,
        samplings,
        judge,
        round_size=config.early_stopping.round_size if early else None,
        look=look_for(config, subjects, similarity_measurements(similarity)) if early else None,
        log=log,
    )
    seconds["evaluate"] = time.monotonic() - mark
    report_counts(subjects, log)
    with stage("statistics"):
        result = conclude(
            config,
            command,
            bench.info(config.benchmark.limit),
            subjects,
            rounds,
            similarity=similarity,
            seconds=seconds,
            started=started,
            calibration=calibration,
        )
    return Outcome(result, subjects, config, bench)


def run_eval(config: GateConfig, *, log: Log = lambda _: None, use_cache: bool = True) -> Outcome:
    """Measure without deciding: the full plan, no similarity, no early stopping, no verdict."""
    outcome = run_check(
        config.model_copy(update={"similarity": None}),
        log=log,
        use_cache=use_cache,
        early_stopping=False,
        command="eval",
    )
    # Report in benchmark order, not the order the backend (or the cache) answered in.
    assert outcome.benchmark is not None
    position = {prompt.id: i for i, prompt in enumerate(outcome.benchmark.prompts)}
    for subject in outcome.subjects:
        subject.records.sort(key=lambda r: (position[r.prompt.id], r.generation.sampling.seed))
    return outcome
