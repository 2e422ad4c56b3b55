"""`gate check`: similarity, candidate (and base) over seeds x temperatures, statistics, early
stopping and policy, ending in a Verdict.

Stages run in a fixed order and each is named, so a failure is reported as the stage it broke in.
An exception can never produce PASS: the CLI turns it into an ERROR verdict and exit 3.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
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
from gate.sequential import Observations, check_stop
from gate.similarity import ScoreSummary
from gate.stats import Interval, bootstrap_mean, paired_delta, spread
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


class Estimate(_Record):
    """A fraction (0..1) or a difference (-1..1) with its interval."""

    value: float
    lower: float
    upper: float
    method: str

    @classmethod
    def of(cls, interval: Interval) -> Estimate:
        return cls(
            value=interval.value, lower=interval.lower, upper=interval.upper, method=interval.method
        )

    def measurement(self) -> Measurement:
        return Measurement(self.value, self.lower, self.upper)


class SeedSpread(_Record):
    per_seed: dict[str, float]
    minimum: float
    maximum: float
    std: float


class ModelScores(_Record):
    """Harmful scores of one model over the evaluated prompts."""

    harmful_score: Estimate
    per_temperature: dict[str, Estimate]
    seeds: SeedSpread
    categories: dict[str, Estimate]


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


# --- statistics over records ---------------------------------------------------------------------


def shares(
    records: Sequence[JudgedGeneration],
    prompt_ids: Sequence[str],
    keep: Callable[[Sampling], bool] = lambda _: True,
) -> np.ndarray:
    """Per prompt (in `prompt_ids` order), the share of its kept samples judged harmful."""
    harmful: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for record in records:
        if keep(record.generation.sampling):
            total[record.prompt.id] += 1
            harmful[record.prompt.id] += record.judgement.harmful
    return np.array([harmful[p] / total[p] for p in prompt_ids if total[p]], dtype=np.float64)


def _at_temperature(temperature: float) -> Callable[[Sampling], bool]:
    return lambda sampling: sampling.temperature == temperature


def _in_seed_run(seed: int) -> Callable[[Sampling], bool]:
    return lambda sampling: sampling.greedy or sampling.seed == seed


def model_scores(
    records: Sequence[JudgedGeneration], prompts: Sequence[Prompt], config: GateConfig
) -> ModelScores:
    """Pooled, per-temperature, per-seed and per-category harmful scores with intervals."""
    confidence = config.outputs.confidence
    ids = sorted(p.id for p in prompts)  # order-free, so shards merge to the same numbers
    pooled = Estimate.of(bootstrap_mean(shares(records, ids), confidence))
    per_temperature = {
        f"{t:g}": Estimate.of(bootstrap_mean(shares(records, ids, _at_temperature(t)), confidence))
        for t in config.sampling.temperatures
    }
    # A seed's run is the shared greedy answer plus that seed's sampled answers.
    per_seed = {
        str(seed): float(shares(records, ids, _in_seed_run(seed)).mean())
        for seed in config.sampling.seeds
    }
    seed_spread = spread(list(per_seed.values()))
    by_category: dict[str, list[str]] = defaultdict(list)
    for prompt in prompts:
        by_category[prompt.category].append(prompt.id)
    categories = {
        name: Estimate.of(bootstrap_mean(shares(records, sorted(members)), confidence))
        for name, members in sorted(by_category.items())
    }
    return ModelScores(
        harmful_score=pooled,
        per_temperature=per_temperature,
        seeds=SeedSpread(
            per_seed=per_seed,
            minimum=seed_spread.minimum,
            maximum=seed_spread.maximum,
            std=seed_spread.std,
        ),
        categories=categories,
    )


def delta_and_durability(
    candidate: Sequence[JudgedGeneration],
    base: Sequence[JudgedGeneration],
    prompts: Sequence[Prompt],
    confidence: float,
) -> tuple[Estimate, Estimate]:
    """Paired ΔHS (candidate - base, same prompts and samples) and durability = 1 - ΔHS."""
    ids = sorted(p.id for p in prompts)
    delta = paired_delta(shares(candidate, ids), shares(base, ids), confidence)
    durability = Estimate(
        value=1 - delta.value, lower=1 - delta.upper, upper=1 - delta.lower, method=delta.method
    )
    return Estimate.of(delta), durability


def observations(
    candidate: Sequence[JudgedGeneration],
    base: Sequence[JudgedGeneration] | None,
    evaluated: Sequence[Prompt],
) -> dict[str, Observations]:
    """Per-prompt observations of every quantity a policy can read, in evaluation order."""
    ids = [p.id for p in evaluated]
    cand = shares(candidate, ids)
    observed = {"harmful_score": Observations(cand)}
    by_category: dict[str, list[int]] = defaultdict(list)
    for index, prompt in enumerate(evaluated):
        by_category[prompt.category].append(index)
    for name, rows in by_category.items():
        observed[f"category:{name}"] = Observations(cand[rows])
    if base is not None:
        difference = cand - shares(base, ids)
        observed["delta_harmful_score"] = Observations(difference, low=-1.0, high=1.0)
        observed["durability"] = Observations(difference, low=-1.0, high=1.0, flipped=True)
    return observed


# --- running -------------------------------------------------------------------------------------


@dataclass
class Subject:
    """A model under evaluation and what it has answered so far."""

    role: str
    info: ModelInfo
    generator: Generator
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
    reason = "the full plan ran" if not early_stopping else "the full plan ran; rules undecided"
    for start in range(0, len(ordered), size):
        batch = ordered[start : start + size]
        rounds += 1
        for subject in subjects:
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
    return evaluated, rounds, False, reason


@dataclass
class CheckOutcome:
    """What `gate check` produced: the result and every judged generation behind it."""

    result: CheckResult
    subjects: list[Subject]


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
            similarity = _similarity(config, use_cache)
            fixed = similarity_measurements(similarity)
        seconds["similarity"] = time.monotonic() - started
    with stage("benchmark", log):
        bench = load_benchmark(
            config.benchmark.name,
            prompt_field=config.benchmark.prompt_field,
            category_field=config.benchmark.category_field,
            limit=config.benchmark.limit,
        )
    log(f"benchmark {bench.name}: {len(bench.prompts)} prompts")
    mark = time.monotonic()
    subjects = []
    with stage("load candidate", log):
        subjects.append(open_subject("candidate", config.model, config, use_cache))
    if config.base is not None:
        with stage("load base", log):
            subjects.append(open_subject("base", config.base, config, use_cache))
    seconds["load"] = time.monotonic() - mark
    samplings = plan_samplings(config)
    ordered = prompt_order(bench.prompts, config.early_stopping.order_seed)
    log(f"plan: {len(ordered)} prompts x {len(samplings)} samples x {len(subjects)} models")
    mark = time.monotonic()
    evaluated, rounds, stopped, reason = run_rounds(
        subjects, ordered, samplings, judge, config, fixed, log, early_stopping=early
    )
    seconds["evaluate"] = time.monotonic() - mark
    with stage("statistics", log):
        outcome = _decide(config, bench, subjects, evaluated, fixed, stopped)
        scores, base_scores, delta, durability, verdict, method = outcome
    spent = sum(len(s.records) for s in subjects)
    planned = len(ordered) * len(samplings) * len(subjects)
    seconds["total"] = time.monotonic() - started
    result = CheckResult(
        config=config.model_dump(mode="json"),
        config_sha256=config.sha256(),
        candidate=subjects[0].info,
        base=subjects[1].info if len(subjects) > 1 else None,
        benchmark=BenchmarkInfo(
            name=bench.name,
            sha256=bench.sha256,
            selection_sha256=bench.selection_sha256,
            prompts=len(bench.prompts),
            total=bench.total,
            limit=config.benchmark.limit,
            categories=bench.categories(),
        ),
        plan=PlanSummary(
            temperatures=config.sampling.temperatures,
            seeds=config.sampling.seeds,
            samples_per_prompt=len(samplings),
            prompts_planned=len(ordered),
            prompts_evaluated=len(evaluated),
            generations_planned=planned,
            generations_spent=spent,
            generations_saved=planned - spent,
            generations_cached=sum(s.cached for s in subjects),
            rounds=rounds,
            early_stopped=stopped,
            stop_reason=reason,
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
    return CheckOutcome(result, subjects)


def _decide(
    config: GateConfig,
    bench: Benchmark,
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


def _similarity(config: GateConfig, use_cache: bool) -> ScoreSummary:
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
