"""The engine: open the models and the judge, then generate (cached) and judge, round by round.

Every command that evaluates (`gate eval`, `gate check`, a shard, the monitor's probe) goes through
`evaluate_requests`; the commands that follow a plan go through `run_rounds`. They differ in what
they do before and after, never in a copy of this path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from gate import judges
from gate.config import GateConfig, ModelSection
from gate.errors import InputError, stage
from gate.evaluation.plan import requests_for
from gate.evaluation.sequential import StopCheck
from gate.generate import (
    BackendTarget,
    Generation,
    Generator,
    GenRequest,
    PromptTooLong,
    Sampling,
    open_backend,
)
from gate.judges import Judge
from gate.models import ModelInfo, ModelSpec
from gate.progress import ProgressReporter
from gate.records.answers import JudgedGeneration
from gate.records.prompts import Prompt

Log = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """The judged generations of one batch of requests and the time each step took."""

    records: list[JudgedGeneration]
    generate_seconds: float
    judge_seconds: float


@dataclass
class Subject:
    """A model under evaluation and what it has answered so far."""

    role: str
    """`candidate` or `base`."""
    info: ModelInfo
    generator: Generator | None
    """None for a subject read back from a shard's output."""
    records: list[JudgedGeneration] = field(default_factory=list)
    load_seconds: float = 0.0
    generate_seconds: float = 0.0
    judge_seconds: float = 0.0

    @property
    def cached(self) -> int:
        return sum(r.generation.cached for r in self.records)


def model_spec(section: ModelSection, config: GateConfig) -> ModelSpec:
    """The checkpoint a `[model]` or `[base]` section names (backend options aside)."""
    return ModelSpec(
        model=section.path,
        cache_dir=config.cache_dir(),
        adapter=section.adapter,
        allow_pickle=section.allow_pickle,
        trust_remote_code=section.trust_remote_code,
        merge_adapter=section.merge_adapter,
    )


def open_generator(section: ModelSection, config: GateConfig, *, use_cache: bool) -> Generator:
    """The section's backend, built through the registry, behind the generation store."""
    target = BackendTarget(
        model_spec(section, config),
        batch_size=None if config.sampling.batch_size == "auto" else config.sampling.batch_size,
        overlong=config.benchmark.overlong,
    )
    store = config.cache_dir() / "generations.sqlite" if use_cache else None
    return open_backend(section.backend, section.options, target, store=store)


def open_judge(config: GateConfig, *, use_cache: bool = True) -> Judge:
    """The configured judge, built through the registry with its validated options."""
    context = judges.JudgeContext(cache_dir=config.cache_dir(), use_cache=use_cache)
    return judges.open_judge(config.judge.name, config.judge.options, context)


def open_subjects(config: GateConfig, *, use_cache: bool) -> list[Subject]:
    """The candidate, and the base when configured, each opened as its own stage."""
    sections = [("candidate", config.model)]
    if config.base is not None:
        sections.append(("base", config.base))
    subjects = []
    for role, section in sections:
        started = time.monotonic()
        with stage(f"load {role}"):
            generator = open_generator(section, config, use_cache=use_cache)
        subjects.append(
            Subject(role, generator.info, generator, load_seconds=time.monotonic() - started)
        )
    return subjects


def evaluate_requests(
    prompts: Sequence[Prompt],
    requests: Sequence[GenRequest],
    generator: Generator,
    judge: Judge,
    *,
    progress_stream: TextIO | None = None,
    description: str = "generating",
) -> Evaluation:
    """Answer every request, then judge every answer."""
    by_id = {p.id: p for p in prompts}
    generations: list[Generation] = []
    tokens = 0
    started = time.monotonic()
    with ProgressReporter(
        description, len(requests), stream=progress_stream, unit="generations"
    ) as progress:
        try:
            for generation in generator.generate(requests):
                generations.append(generation)
                tokens += 0 if generation.cached else generation.tokens
                rate = tokens / max(time.monotonic() - started, 1e-9)
                progress.advance(postfix=f"{rate:.0f} tok/s")
        except PromptTooLong as exc:
            prompt = by_id[exc.prompt_id]
            raise InputError(
                f"{prompt.source or prompt.id}: the prompt is {exc.tokens} tokens; the model "
                f"takes {exc.limit} with room for max_new_tokens",
                hint='set [benchmark] overlong = "truncate" to cut long prompts from the left',
            ) from None
    generate_seconds = time.monotonic() - started
    if len(generations) != len(requests):
        raise RuntimeError(
            f"generator {generator.name!r} returned {len(generations)} answers "
            f"for {len(requests)} requests"
        )
    started = time.monotonic()
    judgements = judge.judge([(by_id[g.prompt_id].text, g.text) for g in generations])
    judge_seconds = time.monotonic() - started
    if len(judgements) != len(generations):
        raise RuntimeError(
            f"judge {judge.name!r} returned {len(judgements)} judgements "
            f"for {len(generations)} answers"
        )
    records = [
        JudgedGeneration(by_id[g.prompt_id], g, j)
        for g, j in zip(generations, judgements, strict=True)
    ]
    return Evaluation(records, generate_seconds, judge_seconds)


@dataclass(frozen=True)
class Rounds:
    """How far the plan got."""

    prompts_planned: int
    evaluated: list[Prompt]
    rounds: int
    early_stopped: bool
    stop_reason: str


Look = Callable[[Sequence[Prompt]], StopCheck]
"""After a round: given the prompts evaluated so far, whether the evidence settles the run."""


def run_rounds(
    subjects: Sequence[Subject],
    ordered: Sequence[Prompt],
    samplings: Sequence[Sampling],
    judge: Judge,
    *,
    round_size: int | None = None,
    look: Look | None = None,
    log: Log = lambda _: None,
) -> Rounds:
    """Evaluate prompts round by round (all in one without `round_size`) until `look` says stop."""
    size = round_size or max(1, len(ordered))
    evaluated: list[Prompt] = []
    rounds = 0
    reason = "the full plan ran"
    for start in range(0, len(ordered), size):
        batch = ordered[start : start + size]
        rounds += 1
        for subject in subjects:
            assert subject.generator is not None
            with stage(f"generate and judge ({subject.role})"):
                evaluation = evaluate_requests(
                    batch,
                    requests_for(batch, samplings),
                    subject.generator,
                    judge,
                    description=subject.role if look is None else f"{subject.role} round {rounds}",
                )
            subject.records.extend(evaluation.records)
            subject.generate_seconds += evaluation.generate_seconds
            subject.judge_seconds += evaluation.judge_seconds
        evaluated.extend(batch)
        if look is None or len(evaluated) == len(ordered):
            continue
        with stage("early stopping"):
            decision = look(evaluated)
        log(f"round {rounds}: {len(evaluated)}/{len(ordered)} prompts; {decision.reason}")
        if decision.stop:
            return Rounds(len(ordered), evaluated, rounds, True, decision.reason)
        reason = f"the full plan ran; at the last look: {decision.reason}"
    return Rounds(len(ordered), evaluated, rounds, False, reason)
