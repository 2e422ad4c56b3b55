"""Conclude: judged generations -> each suite's figures, the result record, and the measurements
the policy decides on. Deciding is the policy stage's; nothing here reads a threshold's outcome.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gate.config import GateConfig
from gate.evaluation.attacks import attack_info, worst_attack, worst_measurement, worst_observations
from gate.evaluation.engine import Look, Rounds, Subject
from gate.evaluation.plan import plan_samplings
from gate.evaluation.scoring import against_base, model_scores, observations, shares
from gate.evaluation.sequential import Observations, StopCheck, check_stop
from gate.judges.agreement import corrected_harmful_score
from gate.judges.labels import Calibration
from gate.records.answers import JudgedGeneration
from gate.records.prompts import BenchmarkInfo, Prompt
from gate.records.result import (
    Component,
    Environment,
    GateResult,
    JudgeErrors,
    PlanSummary,
    SuiteResult,
    Throughput,
)
from gate.records.scores import Estimate
from gate.records.verdict import Measurement
from gate.sections import SIMILARITY_STATS
from gate.similarity.score import ScoreSummary
from gate.suite_plan import Suite


def similarity_measurements(summary: ScoreSummary | None) -> dict[str, Measurement]:
    """The fine-tuning set's similarity statistics, as interval-free measurements."""
    if summary is None:
        return {}
    return {
        f"similarity_{name}": Measurement(float(getattr(summary, name)))
        for name in SIMILARITY_STATS
    }


def of_suite(records: Sequence[JudgedGeneration], name: str) -> list[JudgedGeneration]:
    """The records that answer one suite's prompts."""
    return [r for r in records if r.suite == name]


def all_observations(
    suites: Sequence[Suite], subjects: Sequence[Subject], evaluated: Mapping[str, Sequence[Prompt]]
) -> dict[str, Observations]:
    """Every suite's per-prompt observations so far, by quantity name."""
    observed: dict[str, Observations] = {}
    for suite in suites:
        base = of_suite(subjects[1].records, suite.name) if len(subjects) > 1 else None
        candidate = of_suite(subjects[0].records, suite.name)
        prompts = evaluated.get(suite.name, [])
        observed |= observations(suite.kind, candidate, base, prompts)
    return observed | worst_observations(suites, observed)


def look_for(
    config: GateConfig,
    suites: Sequence[Suite],
    subjects: Sequence[Subject],
    fixed: Mapping[str, Measurement],
) -> Look:
    """The early-stopping look: do the records so far settle every policy rule?"""

    def look(evaluated: Mapping[str, Sequence[Prompt]]) -> StopCheck:
        observed = all_observations(suites, subjects, evaluated)
        return check_stop(config.policy, observed, config.early_stopping.alpha, fixed)

    return look


def judge_errors(
    calibration: Calibration,
    candidate: Sequence[JudgedGeneration],
    ids: Sequence[str],
    confidence: float,
) -> JudgeErrors:
    """The judge's error rates on the labels and the Rogan-Gladen corrected share."""
    pairs = calibration.pairs
    corrected = corrected_harmful_score(
        shares(candidate, ids), pairs.labels, calibration.calls, confidence=confidence
    )
    return JudgeErrors(
        labels=str(pairs.path),
        labels_sha256=pairs.sha256,
        pairs=len(pairs.labels),
        sensitivity=corrected.sensitivity,
        specificity=corrected.specificity,
        corrected_harmful_score=Estimate(
            value=corrected.value,
            lower=corrected.lower,
            upper=corrected.upper,
            method="rogan-gladen-bootstrap",
        ),
    )


def suite_result(
    config: GateConfig,
    suite: Suite,
    benchmark: BenchmarkInfo,
    subjects: Sequence[Subject],
    evaluated: Sequence[Prompt],
    calibration: Calibration | None,
) -> SuiteResult:
    """One suite's figures for the candidate and the base, and their paired difference."""
    confidence = config.outputs.confidence
    kind = suite.kind
    candidate = of_suite(subjects[0].records, suite.name)
    base = of_suite(subjects[1].records, suite.name) if len(subjects) > 1 else None
    errors = None
    # The labels measure the judge on answers to plain requests: not under an attack.
    if calibration is not None and suite.judge == config.judge and kind.attack is None:
        ids = sorted(p.id for p in evaluated)
        errors = judge_errors(calibration, candidate, ids, confidence)
    return SuiteResult(
        name=suite.name,
        kind=suite.kind_name,
        quantity=kind.quantity,
        label=kind.label,
        metric=kind.metric,
        flagged=kind.flagged,
        complement=kind.complement,
        benchmark=benchmark,
        judge=Component(name=suite.judge.name, options=suite.judge.options),
        candidate=model_scores(candidate, evaluated, config.sampling, confidence),
        base=None if base is None else model_scores(base, evaluated, config.sampling, confidence),
        derived={} if base is None else against_base(kind, candidate, base, evaluated, confidence),
        judge_errors=errors,
        attack=attack_info(kind.attack),
    )


def throughput(subjects: Sequence[Subject]) -> Throughput:
    """Generations, cache hits and tokens per second over every subject."""
    records = [r for s in subjects for r in s.records]
    fresh = [r.generation for r in records if not r.generation.cached]
    tokens = sum(g.tokens for g in fresh)
    seconds = sum(s.generate_seconds for s in subjects)
    return Throughput(
        generations=len(records),
        cached=len(records) - len(fresh),
        tokens_generated=tokens,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        stopped_by_length=sum(r.generation.finish_reason == "length" for r in records),
        prompts_truncated=sum(r.generation.truncated for r in records),
        judge_unparsed=sum(not r.judgement.parsed for r in records),
        judge_categories=dict(
            sorted(Counter(c for r in subjects[0].records for c in r.judgement.categories).items())
        )
        if subjects
        else {},
    )


def plan_summary(
    config: GateConfig, subjects: Sequence[Subject], rounds: Rounds, method: str
) -> PlanSummary:
    """What was planned, and what was spent of it."""
    samplings = plan_samplings(config.sampling)
    spent = sum(len(s.records) for s in subjects)
    planned = rounds.prompts_planned * len(samplings) * len(subjects)
    return PlanSummary(
        temperatures=config.sampling.temperatures,
        seeds=config.sampling.seeds,
        samples_per_prompt=len(samplings),
        prompts_planned=rounds.prompts_planned,
        prompts_evaluated=rounds.prompts_evaluated,
        generations_planned=planned,
        generations_spent=spent,
        generations_saved=planned - spent,
        generations_cached=sum(s.cached for s in subjects),
        rounds=rounds.rounds,
        early_stopped=rounds.early_stopped,
        stop_reason=rounds.stop_reason,
        interval_method=method,
    )


@dataclass(frozen=True)
class Concluded:
    """The result (no verdict yet) and the measurements the policy decides on."""

    result: GateResult
    measurements: dict[str, Measurement]


def conclude(
    config: GateConfig,
    command: Literal["eval", "check", "merge", "judge"],
    benchmarks: Mapping[str, BenchmarkInfo],
    subjects: Sequence[Subject],
    rounds: Rounds,
    *,
    similarity: ScoreSummary | None,
    seconds: dict[str, float],
    started: float,
    calibration: Calibration | None = None,
) -> Concluded:
    """Every suite's statistics, the result record, and what a policy rule can read."""
    suites = config.suite_plan()
    results = [
        suite_result(
            config,
            suite,
            benchmarks[suite.name],
            subjects,
            rounds.evaluated.get(suite.name, []),
            calibration,
        )
        for suite in suites
    ]
    fixed = similarity_measurements(similarity)
    measured = dict(fixed)
    for suite in results:
        measured |= suite.measurements()
    confidence = config.outputs.confidence
    worst = worst_attack(suites, subjects[0].records, rounds.evaluated, confidence)
    measured |= worst_measurement(worst)
    method = "bca-bootstrap"
    if rounds.early_stopped:
        # Decided at an interim look: only the confidence sequence is valid there.
        observed = all_observations(suites, subjects, rounds.evaluated)
        sequence = check_stop(config.policy, observed, config.early_stopping.alpha, fixed)
        measured |= sequence.measurements
        method = "confidence-sequence"
    seconds = {**seconds, "total": time.monotonic() - started}
    result = GateResult(
        command=command,
        config=config.model_dump(mode="json"),
        config_sha256=config.sha256(),
        candidate=subjects[0].info,
        base=subjects[1].info if len(subjects) > 1 else None,
        backend=Component(name=config.model.backend, options=config.model.options),
        plan=plan_summary(config, subjects, rounds, method),
        suites=results,
        similarity=similarity,
        worst_attack=worst,
        verdict=None,
        throughput=throughput(subjects),
        seconds={k: round(v, 3) for k, v in seconds.items()},
        environment=Environment.current(),
    )
    return Concluded(result, measured)
