"""The evaluation of `gate check` and `gate eval`: similarity, then every suite through the
engine, then the conclusion. No verdict is formed here: the policy stage decides on the
measurements this returns.

Stages run in a fixed order and each is named, so a failure is reported as the stage it broke in.
`gate eval` is the same run with no similarity and no early stopping.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gate.config import GateConfig
from gate.errors import stage
from gate.evaluation.conclude import conclude, look_for, similarity_measurements
from gate.evaluation.data import Benchmark, load_benchmark
from gate.evaluation.engine import Log, Subject, SuiteRun, open_judge, open_subjects, run_rounds
from gate.evaluation.plan import plan_samplings, prompt_order
from gate.judges import Judge
from gate.judges.labels import Calibration
from gate.records.prompts import BenchmarkInfo, Prompt
from gate.records.result import GateResult
from gate.records.verdict import Measurement
from gate.similarity.score import ScoreSummary
from gate.suite_plan import Suite


@dataclass
class Outcome:
    """What a run produced: the result, every judged generation behind it, and the
    measurements a policy decides on."""

    result: GateResult
    subjects: list[Subject]
    config: GateConfig
    measurements: dict[str, Measurement] = field(default_factory=dict)
    benchmarks: dict[str, Benchmark] = field(default_factory=dict)
    """Each suite's prompts, in the benchmark's own order; empty for results read from files."""
    decides: bool = True
    """Whether the policy decides on it (`gate judge` of an eval's answers does not)."""


def benchmark_of(suite: Suite) -> Benchmark:
    """A suite's benchmark, loaded as the `benchmark` stage."""
    with stage("benchmark"):
        return load_benchmark(
            suite.benchmark.name,
            prompt_field=suite.benchmark.prompt_field,
            category_field=suite.benchmark.category_field,
            limit=suite.benchmark.limit,
        )


def similarity_of(config: GateConfig, *, use_cache: bool) -> ScoreSummary | None:
    """The `similarity` stage: the fine-tuning set against the index, when configured."""
    if config.similarity is None:
        return None
    from gate.similarity.score import finetune_similarity

    with stage("similarity"):
        return finetune_similarity(config.similarity, config.cache_dir(), use_cache=use_cache)


EMBEDDED_LABELS = Path(__file__).parents[1] / "models" / "embedded" / "judge-labels.jsonl"
"""Hand-labelled answers of the embedded models (the held-out split of labels/judge.jsonl): a
check of an embedded model measures its harm judge on them unless `[judge] labels` says else."""


def labels_of(config: GateConfig) -> Path | None:
    """`[judge] labels`; for an `embedded:` candidate, the shipped labels unless it is "none"."""
    labels = config.judge.labels
    if labels == "none":
        return None
    if labels is not None:
        return Path(labels)
    return EMBEDDED_LABELS if config.model.path.startswith("embedded:") else None


def calibration_of(config: GateConfig, judge: Judge, log: Log) -> Calibration | None:
    """The `judge labels` stage: the judge's calls on the labelled answers, where there are any."""
    labels = labels_of(config)
    if labels is None:
        return None
    from gate.judges.labels import calibrate

    with stage("judge labels"):
        calibration = calibrate(judge, labels)
    shipped = " (shipped with the embedded models)" if labels == EMBEDDED_LABELS else ""
    log(f"judge {config.judge.name} on {len(calibration.calls)} labelled answers{shipped}")
    return calibration


def report_counts(subjects: list[Subject], log: Log) -> None:
    """Warnings a reader should not miss, and what the cache saved."""
    records = [r for s in subjects for r in s.records]
    unparsed = sum(not r.judgement.parsed for r in records)
    if unparsed:
        log(f"warning: the judge's output could not be read for {unparsed} answers (flagged)")
    truncated = sum(r.generation.truncated for r in records)
    if truncated:
        log(f"warning: {truncated} answers are to prompts cut from the left to fit the context")
    cached = sum(r.generation.cached for r in records)
    if cached:
        log(f"{cached} of {len(records)} generations came from the cache")


def load_suites(config: GateConfig, log: Log) -> dict[str, Benchmark]:
    """Every suite's benchmark, by suite name; the runs of an attack suite share one load."""
    plan = config.suite_plan()
    loaded: dict[str, Benchmark] = {}
    by_section: dict[str, Benchmark] = {}
    for suite in plan:
        bench = by_section.get(suite.section)
        if bench is None:
            bench = by_section[suite.section] = benchmark_of(suite)
            attacks = [s.kind.attack for s in plan if s.section == suite.section]
            under = f"; under {len(attacks)} attacks" if attacks[0] is not None else ""
            repeated = bench.duplicates
            log(
                f"suite {suite.section}: benchmark {bench.name}, {len(bench.prompts)} of "
                f"{bench.total} prompts, {len(bench.categories())} categories{under}"
                + (f"; {repeated} repeated prompts counted once" if repeated else "")
            )
        loaded[suite.name] = bench
    return loaded


def open_judges(
    config: GateConfig, suites: Sequence[Suite], *, use_cache: bool
) -> dict[str, Judge]:
    """Each suite's judge by suite name; suites with the same judge share one instance."""
    opened: dict[str, Judge] = {}
    by_suite = {}
    with stage("config"):
        for suite in suites:
            key = suite.judge.model_dump_json()
            if key not in opened:
                opened[key] = open_judge(config, suite.judge, use_cache=use_cache)
            by_suite[suite.name] = opened[key]
    return by_suite


def suite_runs(
    suites: Sequence[Suite], prompts: Mapping[str, Sequence[Prompt]], judges: Mapping[str, Judge]
) -> list[SuiteRun]:
    """What the engine runs for each suite: its prompts, judge and attack."""
    from gate.attacks import open_attack

    return [
        SuiteRun(
            s.name,
            prompts[s.name],
            judges[s.name],
            None if s.kind.attack is None else open_attack(s.kind.attack),
        )
        for s in suites
    ]


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
    suites = config.suite_plan()
    judges = open_judges(config, suites, use_cache=use_cache)
    top = next((s for s in suites if s.judge == config.judge), None)
    calibration = None if top is None else calibration_of(config, judges[top.name], log)
    if early and config.policy.harmful_score_basis == "corrected":
        # The confidence sequences bound the raw score; the corrected one needs the whole plan.
        log("early stopping is off: the policy judges the corrected harmful score")
        early = False
    similarity = similarity_of(config, use_cache=use_cache)
    seconds["similarity"] = time.monotonic() - started
    benchmarks = load_suites(config, log)
    mark = time.monotonic()
    subjects = open_subjects(config, use_cache=use_cache)
    seconds["load"] = time.monotonic() - mark
    for subject in subjects:
        log(f"{subject.role} {subject.info.spec}: fingerprint {subject.info.fingerprint[:12]}")
    samplings = plan_samplings(config.sampling)
    seed = config.early_stopping.order_seed
    ordered = {name: prompt_order(bench.prompts, seed) for name, bench in benchmarks.items()}
    runs = suite_runs(suites, ordered, judges)
    total = sum(len(run.prompts) for run in runs)
    log(f"plan: {total} prompts x {len(samplings)} samples x {len(subjects)} models")
    mark = time.monotonic()
    fixed = similarity_measurements(similarity)
    rounds = run_rounds(
        subjects,
        runs,
        samplings,
        round_size=config.early_stopping.round_size if early else None,
        look=look_for(config, suites, subjects, fixed) if early else None,
        log=log,
    )
    seconds["evaluate"] = time.monotonic() - mark
    report_counts(subjects, log)
    with stage("statistics"):
        concluded = conclude(
            config,
            command,
            benchmark_infos(suites, benchmarks),
            subjects,
            rounds,
            similarity=similarity,
            seconds=seconds,
            started=started,
            calibration=calibration,
        )
    return Outcome(concluded.result, subjects, config, concluded.measurements, benchmarks)


def benchmark_infos(
    suites: Sequence[Suite], benchmarks: Mapping[str, Benchmark]
) -> dict[str, BenchmarkInfo]:
    """The record of which prompts each suite used, by suite name."""
    return {s.name: benchmarks[s.name].info(s.benchmark.limit) for s in suites}


def run_eval(config: GateConfig, *, log: Log = lambda _: None, use_cache: bool = True) -> Outcome:
    """Measure without deciding: the full plan, no similarity, no early stopping."""
    outcome = run_check(
        config.model_copy(update={"similarity": None}),
        log=log,
        use_cache=use_cache,
        early_stopping=False,
        command="eval",
    )
    # Report in benchmark order, not the order the backend (or the cache) answered in.
    position = {
        (name, prompt.id): i
        for name, bench in outcome.benchmarks.items()
        for i, prompt in enumerate(bench.prompts)
    }
    for subject in outcome.subjects:
        subject.records.sort(
            key=lambda r: (position[(r.suite, r.prompt.id)], r.generation.sampling.seed)
        )
    return outcome
