"""Statistics over judged generations: a suite's share flagged, per seed and category, its paired
difference against the base, and the per-prompt observations early stopping watches.

Everything here is computed over prompts sorted by id, so the numbers do not depend on the order
prompts were evaluated in, and shards merged later give exactly the figures of one unsharded run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from gate.config import SamplingSection
from gate.evaluation.sequential import Observations
from gate.evaluation.stats import bootstrap_mean, paired_delta, spread
from gate.generate import Sampling
from gate.records.answers import JudgedGeneration
from gate.records.prompts import Prompt
from gate.records.result import category_quantity
from gate.records.scores import Estimate, ModelScores, SeedSpread, Share
from gate.sections import SuiteKind


def shares(
    records: Sequence[JudgedGeneration],
    prompt_ids: Sequence[str],
    keep: Callable[[Sampling], bool] = lambda _: True,
) -> np.ndarray:
    """Per prompt (in `prompt_ids` order), the share of its kept samples the judge flagged."""
    flagged: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for record in records:
        if keep(record.generation.sampling):
            total[record.prompt.id] += 1
            flagged[record.prompt.id] += record.judgement.flagged
    return np.array([flagged[p] / total[p] for p in prompt_ids if total[p]], dtype=np.float64)


def share(
    records: Sequence[JudgedGeneration],
    prompt_ids: Sequence[str],
    confidence: float,
    keep: Callable[[Sampling], bool] = lambda _: True,
) -> Share:
    """The share flagged over `prompt_ids` (the samples `keep` accepts), with its interval."""
    wanted = set(prompt_ids)
    kept = [r for r in records if r.prompt.id in wanted and keep(r.generation.sampling)]
    per_prompt = shares(kept, prompt_ids)
    interval = bootstrap_mean(per_prompt, confidence)
    return Share(
        value=interval.value,
        lower=interval.lower,
        upper=interval.upper,
        method=interval.method,
        flagged=sum(r.judgement.flagged for r in kept),
        generations=len(kept),
        prompts=int(per_prompt.size),
    )


def _at_temperature(temperature: float) -> Callable[[Sampling], bool]:
    return lambda sampling: sampling.temperature == temperature


def _in_seed_run(seed: int) -> Callable[[Sampling], bool]:
    return lambda sampling: sampling.greedy or sampling.seed == seed


def model_scores(
    records: Sequence[JudgedGeneration],
    prompts: Sequence[Prompt],
    sampling: SamplingSection,
    confidence: float,
) -> ModelScores:
    """Pooled, per-temperature, per-seed and per-category shares with intervals."""
    ids = sorted(p.id for p in prompts)  # order-free, so shards merge to the same numbers
    pooled = share(records, ids, confidence)
    per_temperature = {
        f"{t:g}": share(records, ids, confidence, _at_temperature(t)) for t in sampling.temperatures
    }
    # A seed's run is the shared greedy answer plus that seed's sampled answers.
    per_seed = {
        str(seed): float(shares(records, ids, _in_seed_run(seed)).mean()) for seed in sampling.seeds
    }
    seed_spread = spread(list(per_seed.values()))
    by_category: dict[str, list[str]] = defaultdict(list)
    for prompt in prompts:
        by_category[prompt.category].append(prompt.id)
    categories = {
        name: share(records, sorted(members), confidence)
        for name, members in sorted(by_category.items())
    }
    return ModelScores(
        pooled=pooled,
        per_temperature=per_temperature,
        seeds=SeedSpread(
            per_seed=per_seed,
            minimum=seed_spread.minimum,
            maximum=seed_spread.maximum,
            std=seed_spread.std,
        ),
        categories=categories,
    )


def against_base(
    kind: SuiteKind,
    candidate: Sequence[JudgedGeneration],
    base: Sequence[JudgedGeneration],
    prompts: Sequence[Prompt],
    confidence: float,
) -> dict[str, Estimate]:
    """The paired delta (candidate - base, same prompts and samples) and its complement."""
    ids = sorted(p.id for p in prompts)
    delta = paired_delta(shares(candidate, ids), shares(base, ids), confidence)
    derived = {kind.delta: Estimate.of(delta)}
    if kind.complement is not None:
        derived[kind.complement] = Estimate(
            value=1 - delta.value, lower=1 - delta.upper, upper=1 - delta.lower, method=delta.method
        )
    return derived


def observations(
    kind: SuiteKind,
    candidate: Sequence[JudgedGeneration],
    base: Sequence[JudgedGeneration] | None,
    evaluated: Sequence[Prompt],
) -> dict[str, Observations]:
    """Per-prompt observations of every quantity of one suite, in evaluation order."""
    ids = [p.id for p in evaluated]
    cand = shares(candidate, ids)
    quantity = kind.key(kind.quantity)
    observed = {quantity: Observations(cand)}
    by_category: dict[str, list[int]] = defaultdict(list)
    for index, prompt in enumerate(evaluated):
        by_category[prompt.category].append(index)
    for name, rows in by_category.items():
        observed[category_quantity(quantity, name)] = Observations(cand[rows])
    if base is not None:
        difference = cand - shares(base, ids)
        observed[kind.key(kind.delta)] = Observations(difference, low=-1.0, high=1.0)
        if kind.complement is not None:
            observed[kind.key(kind.complement)] = Observations(
                difference, low=-1.0, high=1.0, flipped=True
            )
    return observed
