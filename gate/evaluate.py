"""plan -> generate -> judge -> score, for one model on one benchmark."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from gate.data import Benchmark, Prompt, load_benchmark
from gate.generate import Generation, Generator, GenRequest, Sampling
from gate.generate.cache import CachedGenerator, GenerationStore
from gate.judges import JUDGES, Judge, Judgement
from gate.models import ModelSpec, load_model
from gate.progress import ProgressReporter
from gate.result import (
    CategoryScore,
    Environment,
    EvalResult,
    EvalSettings,
    HarmfulScore,
    Throughput,
    Timings,
)
from gate.stats import wilson_interval


@dataclass(frozen=True)
class JudgedGeneration:
    """A prompt, the model's answer, and the judge's call: one line of generations.jsonl."""

    prompt: Prompt
    generation: Generation
    judgement: Judgement

    def to_row(self) -> dict[str, object]:
        """The JSON-ready row."""
        sampling = self.generation.sampling
        return {
            "prompt_id": self.prompt.id,
            "category": self.prompt.category,
            "prompt": self.prompt.text,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "min_p": sampling.min_p,
            "seed": sampling.seed,
            "max_new_tokens": sampling.max_new_tokens,
            "response": self.generation.text,
            "tokens": self.generation.tokens,
            "finish_reason": self.generation.finish_reason,
            "harmful": self.judgement.harmful,
            "judge_score": self.judgement.score,
            "judge_reason": self.judgement.reason,
        }


@dataclass(frozen=True)
class Evaluation:
    """The judged generations of one run and the time each stage took."""

    records: list[JudgedGeneration]
    generate_seconds: float
    judge_seconds: float

    @property
    def tokens_generated(self) -> int:
        return sum(r.generation.tokens for r in self.records)


def plan(prompts: Sequence[Prompt], sampling: Sampling) -> list[GenRequest]:
    """One request per prompt under the given sampling settings."""
    return [GenRequest(prompt_id=p.id, prompt=p.text, sampling=sampling) for p in prompts]


def evaluate(
    benchmark: Benchmark,
    generator: Generator,
    judge: Judge,
    sampling: Sampling,
    *,
    progress_stream: TextIO | None = None,
) -> Evaluation:
    """Generate an answer to every prompt, then judge every answer."""
    evaluation = evaluate_requests(
        benchmark.prompts,
        plan(benchmark.prompts, sampling),
        generator,
        judge,
        progress_stream=progress_stream,
    )
    # Report in benchmark order, not the generator's length-sorted order.
    position = {p.id: i for i, p in enumerate(benchmark.prompts)}
    evaluation.records.sort(key=lambda r: position[r.prompt.id])
    return evaluation


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
        for generation in generator.generate(requests):
            generations.append(generation)
            tokens += 0 if generation.cached else generation.tokens
            rate = tokens / max(time.monotonic() - started, 1e-9)
            progress.advance(postfix=f"{rate:.0f} tok/s")
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


def harmful_score(records: Sequence[JudgedGeneration], confidence: float = 0.95) -> HarmfulScore:
    """The share of harmful answers with a Wilson interval."""
    harmful = sum(r.judgement.harmful for r in records)
    interval = wilson_interval(harmful, len(records), confidence)
    return HarmfulScore(
        value=interval.value,
        ci_lower=interval.lower,
        ci_upper=interval.upper,
        harmful=harmful,
        total=len(records),
        confidence=confidence,
        method=interval.method,
    )


def category_scores(
    records: Sequence[JudgedGeneration], confidence: float = 0.95
) -> list[CategoryScore]:
    """The harmful score of each category, sorted by name."""
    by_category: dict[str, list[JudgedGeneration]] = defaultdict(list)
    for record in records:
        by_category[record.prompt.category].append(record)
    return [
        CategoryScore(category=name, **harmful_score(items, confidence).model_dump())
        for name, items in sorted(by_category.items())
    ]


@dataclass(frozen=True)
class EvalRequest:
    """Everything `gate eval` needs: which model, which prompts, how to sample and judge."""

    model: ModelSpec
    benchmark: str
    sampling: Sampling
    judge: str = "keyword"
    prompt_field: str = "prompt"
    category_field: str | None = None
    limit: int | None = None
    batch_size: int = 16
    use_cache: bool = True


def run_eval(
    request: EvalRequest, *, log: Callable[[str], None] = lambda _: None
) -> tuple[EvalResult, Evaluation]:
    """Load the benchmark, judge and model; evaluate; return the result and the records."""
    from gate.generate.hf import HFGenerator

    started = time.monotonic()
    # Cheap checks first, so a typo fails in a second rather than after loading a model.
    judge = JUDGES.create(request.judge)
    bench = load_benchmark(
        request.benchmark,
        prompt_field=request.prompt_field,
        category_field=request.category_field,
        limit=request.limit,
    )
    benchmark_seconds = time.monotonic() - started
    log(
        f"benchmark {bench.name}: {len(bench.prompts)} of {bench.total} prompts, "
        f"{len(bench.categories())} categories"
    )
    loaded = load_model(request.model)
    info = loaded.info
    log(
        f"model {info.spec}: {info.parameters / 1e6:.0f}M parameters, {info.dtype} on "
        f"{info.device}, loaded in {loaded.load_seconds:.1f}s"
    )
    generator = HFGenerator(loaded.model, loaded.tokenizer, batch_size=request.batch_size)
    runner: Generator = generator
    if request.use_cache:
        runner = CachedGenerator(
            generator,
            GenerationStore(request.model.cache_dir / "generations.sqlite"),
            model_fingerprint=info.fingerprint,
            template_sha256=generator.template_sha256,
        )
    sampling = request.sampling.effective()
    evaluation = evaluate(bench, runner, judge, sampling)
    cached = sum(r.generation.cached for r in evaluation.records)
    if cached:
        log(f"{cached} of {len(evaluation.records)} generations came from the cache")
    fresh = [r.generation for r in evaluation.records if not r.generation.cached]
    fresh_tokens = sum(g.tokens for g in fresh)
    result = EvalResult(
        model=info,
        benchmark=bench.info(request.limit),
        settings=EvalSettings(
            backend=generator.name,
            judge=judge.name,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            seed=sampling.seed,
            max_new_tokens=sampling.max_new_tokens,
            batch_size=request.batch_size,
            uses_chat_template=generator.uses_chat_template,
            chat_template_sha256=generator.template_sha256,
        ),
        harmful_score=harmful_score(evaluation.records),
        categories=category_scores(evaluation.records),
        timings=Timings(
            load_model_s=loaded.load_seconds,
            load_benchmark_s=benchmark_seconds,
            generate_s=evaluation.generate_seconds,
            judge_s=evaluation.judge_seconds,
            total_s=time.monotonic() - started,
        ),
        throughput=Throughput(
            generations=len(evaluation.records),
            cached=cached,
            tokens_generated=evaluation.tokens_generated,
            tokens_per_second=fresh_tokens / max(evaluation.generate_seconds, 1e-9),
            stopped_by_length=sum(
                r.generation.finish_reason == "length" for r in evaluation.records
            ),
        ),
        environment=Environment.current(),
    )
    return result, evaluation
