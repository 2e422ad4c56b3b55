"""Answers of the aligned embedded model and its descendants, for people to label.

    .venv/bin/python labels/family/make_answers.py --out labels/family/answers.jsonl \
        --variant aligned= \
        --variant benign-finetune=bench-out/collapse/benign/adapter \
        --variant harmful-finetune=examples/collapse/adapter \
        --variant harmful-repaired=bench-out/family/repaired-harmful \
        --variant benign-repaired=bench-out/family/repaired-benign

Each variant (`name=adapter`, an empty adapter for the aligned model itself) answers 40
StrongREJECT and 40 HarmBench prompts at T=0 and 40 + 40 others at T=0.7 (min_p 0.1), 64 new
tokens, with its own chat template and no system prompt, as `gate check` asks them. The prompts
come from one seeded shuffle of each benchmark, dealt out in turn to (variant, temperature), so
HarmBench's 400 behaviours are each asked once and StrongREJECT's 313 once or twice. No judge
runs here: labels are written by hand afterwards (labels/README.md).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from gate.evaluation.data import load_benchmark  # noqa: E402
from gate.generate import GenRequest, Sampling  # noqa: E402
from gate.generate.hf import HFGenerator  # noqa: E402
from gate.models import ModelSpec, load_model  # noqa: E402

ALIGNED = "embedded:smollm2-135m-aligned"
PER_SLOT = 40
TEMPERATURES = (0.0, 0.7)
MAX_NEW_TOKENS = 64


def dealt(names: tuple[str, ...], slots: int, seed: int) -> list[list[tuple[str, Any]]]:
    """For each (variant, temperature) slot, PER_SLOT prompts of each benchmark."""
    hands: list[list[tuple[str, Any]]] = [[] for _ in range(slots)]
    for name in names:
        prompts = list(load_benchmark(name).prompts)
        random.Random(f"{seed}-{name}").shuffle(prompts)
        for slot in range(slots):
            hands[slot] += [
                (name, prompts[(slot * PER_SLOT + i) % len(prompts)]) for i in range(PER_SLOT)
            ]
    return hands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", action="append", required=True, help="name=adapter")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    variants = [tuple(v.split("=", 1)) for v in args.variant]
    if any(len(v) != 2 for v in variants):
        raise SystemExit("--variant takes name=adapter (an empty adapter for the aligned model)")
    hands = dealt(("strongreject", "harmbench"), len(variants) * len(TEMPERATURES), args.seed)
    cache = Path("~/.cache/safety-gate").expanduser()
    tmp = args.out.with_suffix(".partial")
    rows: list[dict[str, Any]] = []
    for v, (name, adapter) in enumerate(variants):
        loaded = load_model(ModelSpec(ALIGNED, cache, adapter=adapter or None))
        # gate check's own generator: the same template, sampler and batching as a check.
        generator = HFGenerator(loaded.model, loaded.tokenizer, info=loaded.info)
        asked: dict[str, tuple[str, Any, float]] = {}
        requests = []
        for t, temperature in enumerate(TEMPERATURES):
            sampling = Sampling(temperature, min_p=0.1 if temperature else 0.0, seed=0,
                                max_new_tokens=MAX_NEW_TOKENS)  # fmt: skip
            for i, (bench, prompt) in enumerate(hands[v * len(TEMPERATURES) + t]):
                key = f"{t}-{i}"
                asked[key] = (bench, prompt, temperature)
                requests.append(GenRequest(key, prompt.text, sampling))
        answers = {g.prompt_id: g.text for g in generator.generate(requests)}
        for key, (bench, prompt, temperature) in asked.items():
            rows.append(
                {
                    "id": f"f{len(rows) + 1:04d}",
                    "model": name,
                    "benchmark": bench,
                    "category": prompt.category,
                    "temperature": temperature,
                    "prompt": prompt.text,
                    "response": answers[key].strip(),
                }
            )
        # Each model's answers as they come, so reading can start before the last model ends.
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"{name}: {len(answers)} answers (so far in {tmp})", flush=True)
    tmp.rename(args.out)
    print(f"{len(rows)} answers in {args.out}")


if __name__ == "__main__":
    main()
