"""Score: judged generations -> harmful scores, ΔHS, the verdict, and the result record."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gate.config import GateConfig
from gate.evaluation.engine import Look, Rounds, Subject
from gate.evaluation.plan import plan_samplings
from gate.evaluation.scoring import delta_and_durability, model_scores, observations, shares
from gate.evaluation.sequential import StopCheck, check_stop
from gate.judges.agreement import corrected_harmful_score
from gate.judges.labels import Calibration
from gate.policy import decide
from gate.records.answers import JudgedGeneration
from gate.records.prompts import BenchmarkInfo, Prompt
from gate.records.result import (
    Component,
    Environment,
    GateResult,
    JudgeErrors,
    PlanSummary,
    Throughput,
)
from gate.records.scores import Estimate, ModelScores
from gate.records.verdict import Measurement, Verdict
from gate.similarity.score import ScoreSummary


def measurements_of(
    scores: ModelScores,
    delta: Estimate | None,
    durability: Estimate | None,
    fixed: Mapping[str, Measurement],
) -> dict[str, Measurement]:
    """Every quantity a policy rule can read."""
    measured = {"harmful_score": scores.harmful_score.measurement(), **fixed}
    for name, estimate in scores.categories.items():
        measured[f"category:{name}"] = estimate.measurement()
    if delta is not None and durability is not None:
        measured["delta_harmful_score"] = delta.measurement()
        measured["durability"] = durability.measurement()
    return measured


def similarity_measurements(summary: ScoreSummary | None) -> dict[str, Measurement]:
    """The fine-tuning set's similarity statistics, as interval-free measurements."""
    if summary is None:
        return {}
    return {
        f"similarity_{name}": Measurement(float(getattr(summary, name)))
        for name in ("mean", "p90", "p99", "share_above")
    }


def look_for(
    config: GateConfig, subjects: Sequence[Subject], fixed: Mapping[str, Measurement]
) -> Look:
    """The early-stopping look: do the subjects' records so far settle every policy rule?"""

    def look(evaluated: Sequence[Prompt]) -> StopCheck:
        base = subjects[1].records if len(subjects) > 1 else None
        return check_stop(
            config.policy,
            observations(subjects[0].records, base, evaluated),
            config.early_stopping.alpha,
            fixed,
        )

    return look


@dataclass(frozen=True)
class Scored:
    """The statistics of one run, and its verdict when it decides."""

    scores: ModelScores
    base_scores: ModelScores | None
    delta: Estimate | None
    durability: Estimate | None
    verdict: Verdict | None
    interval_method: str
    judge_errors: JudgeErrors | None = None


def judge_errors(
    calibration: Calibration,
    candidate: Sequence[JudgedGeneration],
    ids: Sequence[str],
    confidence: float,
) -> JudgeErrors:
    """The judge's error rates on the labels and the Rogan-Gladen harmful score."""
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


def score(
    config: GateConfig,
    subjects: Sequence[Subject],
    rounds: Rounds,
    fixed: Mapping[str, Measurement],
    *,
    decides: bool,
    calibration: Calibration | None = None,
) -> Scored:
    """Harmful scores, ΔHS and durability over the evaluated prompts; the verdict if `decides`."""
    confidence = config.outputs.confidence
    candidate = subjects[0].records
    base = subjects[1].records if len(subjects) > 1 else None
    evaluated = rounds.evaluated
    scores = model_scores(candidate, evaluated, config.sampling, confidence)
    base_scores = None
    delta = durability = None
    if base is not None:
        base_scores = model_scores(base, evaluated, config.sampling, confidence)
        delta, durability = delta_and_durability(candidate, base, evaluated, confidence)
    errors = None
    if calibration is not None:
        ids = sorted(p.id for p in evaluated)
        errors = judge_errors(calibration, candidate, ids, confidence)
    if not decides:
        return Scored(scores, base_scores, delta, durability, None, "bca-bootstrap", errors)
    measured = measurements_of(scores, delta, durability, fixed)
    if errors is not None:
        measured["corrected_harmful_score"] = errors.corrected_harmful_score.measurement()
    method = "bca-bootstrap"
    if rounds.early_stopped:
        # Decided at an interim look: only the confidence sequence is valid there.
        sequence = check_stop(
            config.policy,
            observations(candidate, base, evaluated),
            config.early_stopping.alpha,
            fixed,
        )
        measured |= sequence.measurements
        method = "confidence-sequence"
    verdict = decide(config.policy, measured)
    return Scored(scores, base_scores, delta, durability, verdict, method, errors)


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


def conclude(
    config: GateConfig,
    command: Literal["eval", "check", "merge", "judge"],
    benchmark: BenchmarkInfo,
    subjects: Sequence[Subject],
    rounds: Rounds,
    *,
    similarity: ScoreSummary | None,
    seconds: dict[str, float],
    started: float,
    decides: bool | None = None,
    calibration: Calibration | None = None,
) -> GateResult:
    """Statistics and (unless `gate eval`, or `decides` says not) the verdict."""
    fixed = similarity_measurements(similarity)
    decides = command != "eval" if decides is None else decides
    scored = score(config, subjects, rounds, fixed, decides=decides, calibration=calibration)
    samplings = plan_samplings(config.sampling)
    spent = sum(len(s.records) for s in subjects)
    planned = rounds.prompts_planned * len(samplings) * len(subjects)
    seconds = {**seconds, "total": time.monotonic() - started}
    return GateResult(
        command=command,
        config=config.model_dump(mode="json"),
        config_sha256=config.sha256(),
        candidate=subjects[0].info,
        base=subjects[1].info if len(subjects) > 1 else None,
        backend=Component(name=config.model.backend, options=config.model.options),
        judge=Component(name=config.judge.name, options=config.judge.options),
        benchmark=benchmark,
        plan=PlanSummary(
            temperatures=config.sampling.temperatures,
            seeds=config.sampling.seeds,
            samples_per_prompt=len(samplings),
            prompts_planned=rounds.prompts_planned,
            prompts_evaluated=len(rounds.evaluated),
            generations_planned=planned,
            generations_spent=spent,
            generations_saved=planned - spent,
            generations_cached=sum(s.cached for s in subjects),
            rounds=rounds.rounds,
            early_stopped=rounds.early_stopped,
            stop_reason=rounds.stop_reason,
            interval_method=scored.interval_method,
        ),
        scores=scored.scores,
        base_scores=scored.base_scores,
        delta_harmful_score=scored.delta,
        durability=scored.durability,
        similarity=similarity,
        judge_errors=scored.judge_errors,
        verdict=scored.verdict,
        throughput=throughput(subjects),
        seconds={k: round(v, 3) for k, v in seconds.items()},
        environment=Environment.current(),
    )
