"""The engine: open the models and the judge, then generate (cached) and judge, round by round.

Every command that evaluates (`gate eval`, `gate check`, a shard, the monitor's probe) goes through
`evaluate_requests`; the commands that follow a plan go through `run_rounds`. They differ in what
they do before and after, never in a copy of this path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from gate import judges
from gate.attacks import Attack
from gate.config import GateConfig, JudgeSection, ModelSection
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
from gate.judges import Judge, Judgement
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


def open_judge(
    config: GateConfig, section: JudgeSection | None = None, *, use_cache: bool = True
) -> Judge:
    """A judge (`[judge]` unless `section` names another), built through the registry with its
    validated options."""
    section = section or config.judge
    context = judges.JudgeContext(cache_dir=config.cache_dir(), use_cache=use_cache)
    return judges.open_judge(section.name, section.options, context)


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
    suite: str = "harmful",
    attack: Attack | None = None,
) -> Evaluation:
    """Answer every request, then judge every answer against the prompt as written (under an
    attack, the answer decoded from the attack's encoding where it used it)."""
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
    decoded = [g.text if attack is None else attack.decode(g.text) for g in generations]
    started = time.monotonic()
    pairs = [(by_id[g.prompt_id].text, d) for g, d in zip(generations, decoded, strict=True)]
    judgements = judge.judge(pairs)
    judge_seconds = time.monotonic() - started
    if len(judgements) != len(generations):
        raise RuntimeError(
            f"judge {judge.name!r} returned {len(judgements)} judgements "
            f"for {len(generations)} answers"
        )
    records = _records(by_id, requests, generations, judgements, decoded, suite, attack)
    return Evaluation(records, generate_seconds, judge_seconds)


def _records(
    by_id: Mapping[str, Prompt],
    requests: Sequence[GenRequest],
    generations: Sequence[Generation],
    judgements: Sequence[Judgement],
    decoded: Sequence[str],
    suite: str,
    attack: Attack | None,
) -> list[JudgedGeneration]:
    """The judged generations. Under an attack each also keeps what the model was asked and,
    where decoding changed the answer, what the judge read; as written, both stay None."""
    asked = {r.prompt_id: r.prompt for r in requests} if attack is not None else {}
    return [
        JudgedGeneration(
            by_id[g.prompt_id],
            g,
            j,
            suite,
            None if attack is None else attack.key,
            asked.get(g.prompt_id),
            None if d == g.text else d,
        )
        for g, j, d in zip(generations, judgements, decoded, strict=True)
    ]


@dataclass(frozen=True)
class SuiteRun:
    """One suite's prompts, in the order they are asked, its judge, and the attack (if any) that
    wraps them."""

    name: str
    prompts: Sequence[Prompt]
    judge: Judge
    attack: Attack | None = None


@dataclass(frozen=True)
class Rounds:
    """How far the plan got."""

    prompts_planned: int
    """Over every suite."""
    evaluated: dict[str, list[Prompt]]
    """Per suite, the prompts evaluated, in evaluation order."""
    rounds: int
    early_stopped: bool
    stop_reason: str

    @property
    def prompts_evaluated(self) -> int:
        return sum(len(prompts) for prompts in self.evaluated.values())


Look = Callable[[Mapping[str, Sequence[Prompt]]], StopCheck]
"""After a round: given each suite's prompts evaluated so far, whether the evidence settles it."""


def run_rounds(
    subjects: Sequence[Subject],
    suites: Sequence[SuiteRun],
    samplings: Sequence[Sampling],
    *,
    round_size: int | None = None,
    look: Look | None = None,
    log: Log = lambda _: None,
) -> Rounds:
    """Evaluate every suite's prompts round by round (each round takes the next `round_size` of
    each suite; all in one without it) until `look` says stop."""
    longest = max((len(suite.prompts) for suite in suites), default=0)
    planned = sum(len(suite.prompts) for suite in suites)
    size = round_size or max(1, longest)
    evaluated: dict[str, list[Prompt]] = {suite.name: [] for suite in suites}
    rounds = 0
    reason = "the full plan ran"
    for start in range(0, longest, size):
        rounds += 1
        for suite in suites:
            batch = suite.prompts[start : start + size]
            if not batch:
                continue
            label = suite.name if len(suites) > 1 else ""
            for subject in subjects:
                assert subject.generator is not None
                who = f"{subject.role} {label}".strip()
                with stage(f"generate and judge ({who})"):
                    evaluation = evaluate_requests(
                        batch,
                        requests_for(batch, samplings, suite.attack),
                        subject.generator,
                        suite.judge,
                        description=who if look is None else f"{who} round {rounds}",
                        suite=suite.name,
                        attack=suite.attack,
                    )
                subject.records.extend(evaluation.records)
                subject.generate_seconds += evaluation.generate_seconds
                subject.judge_seconds += evaluation.judge_seconds
            evaluated[suite.name].extend(batch)
        if look is None or start + size >= longest:
            continue
        with stage("early stopping"):
            decision = look(evaluated)
        done = sum(len(v) for v in evaluated.values())
        log(f"round {rounds}: {done}/{planned} prompts; {decision.reason}")
        if decision.stop:
            return Rounds(planned, evaluated, rounds, True, decision.reason)
        reason = f"the full plan ran; at the last look: {decision.reason}"
    return Rounds(planned, evaluated, rounds, False, reason)
