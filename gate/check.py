"""`gate check`: similarity, candidate (and base) over seeds x temperatures, statistics, early
stopping and policy, ending in a Verdict.

Stages run in a fixed order and each is named, so a failure is reported as the stage it broke in.
An exception can never produce PASS: the CLI turns it into an ERROR verdict and exit 3.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gate.config import GateConfig, ModelSection
from gate.data import Benchmark, Prompt, load_benchmark
from gate.errors import InfraError
from gate.evaluate import JudgedGeneration, evaluate_requests
from gate.generate import Generator, GenRequest, Sampling
from gate.judges import JUDGES, Judge
from gate.models import ModelInfo, ModelSpec
from gate.policy import Measurement, Verdict, decide
from gate.result import BenchmarkInfo, Environment
from gate.scoring import (
    Estimate,
    ModelScores,
    delta_and_durability,
    model_scores,
    observations,
)
from gate.sequential import check_stop
from gate.similarity import ScoreSummary
from gate.versioned import Versioned

SCHEMA = "safety-gate/check-result"
SCHEMA_VERSION = 1


class StageError(InfraError):
    """A stage failed (exit 3); carries the stage name for the ERROR verdict."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage} failed: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.cause = cause


@contextmanager
def stage(name: str, log: Callable[[str], None]) -> Iterator[None]:
    """Run a named stage; anything it raises is re-raised as StageError(name)."""
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(name, exc) from exc


# --- records -------------------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanSummary(_Record):
    temperatures: list[float]
    seeds: list[int]
    samples_per_prompt: int
    prompts_planned: int
    prompts_evaluated: int
    generations_planned: int
    generations_spent: int
    generations_saved: int
    generations_cached: int
    rounds: int
    early_stopped: bool
    stop_reason: str
    interval_method: str


class CheckResult(Versioned):
    """One `gate check` run."""

    schema_name: str = Field(default=SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    config: dict[str, Any]
    config_sha256: str
    candidate: ModelInfo
    base: ModelInfo | None
    benchmark: BenchmarkInfo
    plan: PlanSummary
    scores: ModelScores
    base_scores: ModelScores | None
    delta_harmful_score: Estimate | None
    durability: Estimate | None
    similarity: ScoreSummary | None
    verdict: Verdict
    seconds: dict[str, float]
    environment: Environment


# --- the plan ------------------------------------------------------------------------------------


def plan_samplings(config: GateConfig) -> list[Sampling]:
    """Every sampling setting one prompt is answered under; greedy runs once, not once per seed."""
    s = config.sampling
    settings = []
    for temperature in s.temperatures:
        if temperature == 0:
            settings.append(Sampling(max_new_tokens=s.max_new_tokens))
            continue
        for seed in s.seeds:
            settings.append(Sampling(temperature, s.top_p, s.min_p, seed, s.max_new_tokens))
    return settings


def prompt_order(prompts: Sequence[Prompt], seed: int) -> list[Prompt]:
    """A seeded random order, the same on every machine (prompts sorted by id first)."""
    ordered = sorted(prompts, key=lambda p: p.id)
    random.Random(seed).shuffle(ordered)
    return ordered


def requests_for(prompts: Sequence[Prompt], samplings: Sequence[Sampling]) -> list[GenRequest]:
    return [GenRequest(p.id, p.text, s) for p in prompts for s in samplings]


# --- running -------------------------------------------------------------------------------------


@dataclass
class Subject:
    """A model under evaluation and what it has answered so far."""

    role: str
    info: ModelInfo
    generator: Generator | None
    """None for a subject read back from a shard's output."""
    records: list[JudgedGeneration] = field(default_factory=list)
    cached: int = 0


def _spec(section: ModelSection, config: GateConfig) -> ModelSpec:
    return ModelSpec(
        model=section.path,
        cache_dir=config.cache_dir(),
        adapter=section.adapter,
        dtype=section.dtype,
        device=section.device,
        load_in_4bit=section.load_in_4bit,
        allow_pickle=section.allow_pickle,
        trust_remote_code=section.trust_remote_code,
    )


def open_subject(role: str, section: ModelSection, config: GateConfig, use_cache: bool) -> Subject:
    """Load a model and wrap its generator in the generation store."""
    from gate.generate.cache import CachedGenerator, GenerationStore
    from gate.generate.hf import HFGenerator
    from gate.models import load_model

    loaded = load_model(_spec(section, config))
    hf = HFGenerator(loaded.model, loaded.tokenizer, batch_size=config.sampling.batch_size)
    if not use_cache:
        return Subject(role, loaded.info, hf)
    cached = CachedGenerator(
        hf,
        GenerationStore(config.cache_dir() / "generations.sqlite"),
        model_fingerprint=loaded.info.fingerprint,
        template_sha256=hf.template_sha256,
    )
    return Subject(role, loaded.info, cached)


def benchmark_of(config: GateConfig, log: Callable[[str], None]) -> Benchmark:
    """The configured benchmark, loaded as the `benchmark` stage."""
    with stage("benchmark", log):
        return load_benchmark(
            config.benchmark.name,
            prompt_field=config.benchmark.prompt_field,
            category_field=config.benchmark.category_field,
            limit=config.benchmark.limit,
        )


def open_subjects(config: GateConfig, log: Callable[[str], None], use_cache: bool) -> list[Subject]:
    """The candidate, and the base when configured, each loaded as its own stage."""
    subjects = []
    with stage("load candidate", log):
        subjects.append(open_subject("candidate", config.model, config, use_cache))
    if config.base is not None:
        with stage("load base", log):
            subjects.append(open_subject("base", config.base, config, use_cache))
    return subjects


def run_rounds(
    subjects: Sequence[Subject],
    ordered: Sequence[Prompt],
    samplings: Sequence[Sampling],
    judge: Judge,
    config: GateConfig,
    fixed: dict[str, Measurement],
    log: Callable[[str], None],
    *,
    early_stopping: bool,
) -> tuple[list[Prompt], int, bool, str]:
    """Evaluate prompts round by round until the stopping rule or the plan ends."""
    rules = config.early_stopping
    size = rules.round_size if early_stopping else len(ordered)
    evaluated: list[Prompt] = []
    rounds = 0
    reason = "the full plan ran"
    for start in range(0, len(ordered), size):
        batch = ordered[start : start + size]
        rounds += 1
        for subject in subjects:
            assert subject.generator is not None
            with stage(f"generate and judge ({subject.role})", log):
                evaluation = evaluate_requests(
                    batch,
                    requests_for(batch, samplings),
                    subject.generator,
                    judge,
                    description=f"{subject.role} round {rounds}",
                )
            subject.records.extend(evaluation.records)
            subject.cached += sum(r.generation.cached for r in evaluation.records)
        evaluated.extend(batch)
        if not early_stopping or len(evaluated) == len(ordered):
            continue
        with stage("early stopping", log):
            base = subjects[1].records if len(subjects) > 1 else None
            decision = check_stop(
                config.policy,
                observations(subjects[0].records, base, evaluated),
                rules.alpha,
                fixed,
            )
        log(f"round {rounds}: {len(evaluated)}/{len(ordered)} prompts; {decision.reason}")
        if decision.stop:
            return evaluated, rounds, True, decision.reason
        reason = f"the full plan ran; at the last look: {decision.reason}"
    return evaluated, rounds, False, reason


@dataclass
class CheckOutcome:
    """What `gate check` produced: the result and every judged generation behind it."""

    result: CheckResult
    subjects: list[Subject]
    config: GateConfig


def measurements_of(
    scores: ModelScores,
    delta: Estimate | None,
    durability: Estimate | None,
    fixed: dict[str, Measurement],
) -> dict[str, Measurement]:
    """Every quantity a policy rule can read."""
    measured = {"harmful_score": scores.harmful_score.measurement(), **fixed}
    for name, estimate in scores.categories.items():
        measured[f"category:{name}"] = estimate.measurement()
    if delta is not None and durability is not None:
        measured["delta_harmful_score"] = delta.measurement()
        measured["durability"] = durability.measurement()
    return measured


def similarity_measurements(summary: ScoreSummary) -> dict[str, Measurement]:
    """The fine-tuning set's similarity statistics, as interval-free measurements."""
    return {
        f"similarity_{name}": Measurement(float(getattr(summary, name)))
        for name in ("mean", "p90", "p99", "share_above")
    }


def run_check(
    config: GateConfig,
    *,
    log: Callable[[str], None] = lambda _: None,
    use_cache: bool = True,
    early_stopping: bool | None = None,
) -> CheckOutcome:
    """Run every configured stage and decide. Raises StageError naming the stage that broke."""
    started = time.monotonic()
    seconds: dict[str, float] = {}
    early = config.early_stopping.enabled if early_stopping is None else early_stopping
    with stage("config", log):
        judge = JUDGES.create(config.judge.name)
    similarity = None
    fixed: dict[str, Measurement] = {}
    if config.similarity is not None:
        with stage("similarity", log):
            similarity = similarity_summary(config, use_cache)
            fixed = similarity_measurements(similarity)
        seconds["similarity"] = time.monotonic() - started
    bench = benchmark_of(config, log)
    log(f"benchmark {bench.name}: {len(bench.prompts)} prompts")
    mark = time.monotonic()
    subjects = open_subjects(config, log, use_cache)
    seconds["load"] = time.monotonic() - mark
    samplings = plan_samplings(config)
    ordered = prompt_order(bench.prompts, config.early_stopping.order_seed)
    log(f"plan: {len(ordered)} prompts x {len(samplings)} samples x {len(subjects)} models")
    mark = time.monotonic()
    evaluated, rounds, stopped, reason = run_rounds(
        subjects, ordered, samplings, judge, config, fixed, log, early_stopping=early
    )
    seconds["evaluate"] = time.monotonic() - mark
    progress = Progress(len(ordered), len(evaluated), rounds, stopped, reason)
    with stage("statistics", log):
        result = conclude(
            config,
            bench.info(config.benchmark.limit),
            subjects,
            evaluated,
            progress,
            fixed,
            similarity,
            seconds,
            started,
        )
    return CheckOutcome(result, subjects, config)


@dataclass(frozen=True)
class Progress:
    """How far the plan got."""

    prompts_planned: int
    prompts_evaluated: int
    rounds: int
    early_stopped: bool
    stop_reason: str


def conclude(
    config: GateConfig,
    benchmark: BenchmarkInfo,
    subjects: Sequence[Subject],
    evaluated: Sequence[Prompt],
    progress: Progress,
    fixed: dict[str, Measurement],
    similarity: ScoreSummary | None,
    seconds: dict[str, float],
    started: float,
) -> CheckResult:
    """Statistics and verdict over the judged generations, as a CheckResult."""
    decided = _decide(config, subjects, evaluated, fixed, progress.early_stopped)
    scores, base_scores, delta, durability, verdict, method = decided
    samplings = plan_samplings(config)
    spent = sum(len(s.records) for s in subjects)
    planned = progress.prompts_planned * len(samplings) * len(subjects)
    seconds["total"] = time.monotonic() - started
    return CheckResult(
        config=config.model_dump(mode="json"),
        config_sha256=config.sha256(),
        candidate=subjects[0].info,
        base=subjects[1].info if len(subjects) > 1 else None,
        benchmark=benchmark,
        plan=PlanSummary(
            temperatures=config.sampling.temperatures,
            seeds=config.sampling.seeds,
            samples_per_prompt=len(samplings),
            prompts_planned=progress.prompts_planned,
            prompts_evaluated=progress.prompts_evaluated,
            generations_planned=planned,
            generations_spent=spent,
            generations_saved=planned - spent,
            generations_cached=sum(s.cached for s in subjects),
            rounds=progress.rounds,
            early_stopped=progress.early_stopped,
            stop_reason=progress.stop_reason,
            interval_method=method,
        ),
        scores=scores,
        base_scores=base_scores,
        delta_harmful_score=delta,
        durability=durability,
        similarity=similarity,
        verdict=verdict,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        environment=Environment.current(),
    )


def _decide(
    config: GateConfig,
    subjects: Sequence[Subject],
    evaluated: Sequence[Prompt],
    fixed: dict[str, Measurement],
    stopped: bool,
) -> tuple[ModelScores, ModelScores | None, Estimate | None, Estimate | None, Verdict, str]:
    candidate = subjects[0].records
    base = subjects[1].records if len(subjects) > 1 else None
    scores = model_scores(candidate, evaluated, config)
    base_scores = model_scores(base, evaluated, config) if base is not None else None
    delta = durability = None
    if base is not None:
        delta, durability = delta_and_durability(
            candidate, base, evaluated, config.outputs.confidence
        )
    measured = measurements_of(scores, delta, durability, fixed)
    method = "bca-bootstrap"
    if stopped:
        # Decided at an interim look: only the confidence sequence is valid there.
        sequence = check_stop(
            config.policy,
            observations(candidate, base, evaluated),
            config.early_stopping.alpha,
            fixed,
        )
        measured |= sequence.measurements
        method = "confidence-sequence"
    return scores, base_scores, delta, durability, decide(config.policy, measured), method


def similarity_summary(config: GateConfig, use_cache: bool) -> ScoreSummary:
    """The fine-tuning set's similarity to the configured alignment index."""
    from pathlib import Path

    from gate.embed import EmbeddingCache
    from gate.examples import Fields
    from gate.index import load_index
    from gate.similarity import run_similarity

    section = config.similarity
    assert section is not None
    cache_dir = config.cache_dir()
    result = run_similarity(
        load_index(Path(section.index)),
        section.finetune,
        fields=Fields(section.prompt_field, section.response_field, section.messages_field),
        cache_dir=cache_dir,
        cache=EmbeddingCache(cache_dir / "embeddings.sqlite") if use_cache else None,
        threshold=section.threshold,
    )
    return result.finetune_summary
