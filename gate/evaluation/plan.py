"""The plan: which prompts are asked, in what order, under which sampling settings."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gate.attacks import Attack
from gate.config import SamplingSection
from gate.generate import GenRequest, Sampling
from gate.records.prompts import Prompt


def plan_samplings(sampling: SamplingSection) -> list[Sampling]:
    """Every sampling setting one prompt is answered under; greedy runs once, not once per seed."""
    settings = []
    for temperature in sampling.temperatures:
        if temperature == 0:
            settings.append(Sampling(max_new_tokens=sampling.max_new_tokens))
            continue
        for seed in sampling.seeds:
            settings.append(
                Sampling(temperature, sampling.top_p, sampling.min_p, seed, sampling.max_new_tokens)
            )
    return settings


def prompt_order(prompts: Sequence[Prompt], seed: int) -> list[Prompt]:
    """A seeded random order, the same on every machine (prompts sorted by id first)."""
    ordered = sorted(prompts, key=lambda p: p.id)
    random.Random(seed).shuffle(ordered)
    return ordered


def requests_for(
    prompts: Sequence[Prompt], samplings: Sequence[Sampling], attack: Attack | None = None
) -> list[GenRequest]:
    """One request per prompt and sampling setting; under an attack, the prompt as it wraps it."""
    text = {p.id: p.text if attack is None else attack.wrap(p.text) for p in prompts}
    key = None if attack is None else attack.key
    return [GenRequest(p.id, text[p.id], s, key) for p in prompts for s in samplings]


def shard_prompts(prompts: Sequence[Prompt], index: int, count: int) -> list[Prompt]:
    """Every n-th prompt in id order, starting at the i-th: deterministic and balanced."""
    ordered = sorted(prompts, key=lambda p: p.id)
    return ordered[index - 1 :: count]
