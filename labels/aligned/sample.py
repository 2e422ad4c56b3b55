"""Pick the aligned model's answers to label from a `gate check` run of bench/aligned.py.

    .venv/bin/python labels/aligned/sample.py bench-out/aligned/check [--per-temperature 80]
    .venv/bin/python labels/aligned/sample.py bench-out/collapse/benign/check --per-temperature 20 \
        --seed 21 --model smollm2-135m-aligned+benign-finetune --prefix b \
        --out labels/aligned/benign-finetune-answers.jsonl

Writes answers.jsonl (or --out): the candidate's answers to StrongREJECT (the harmful suite),
the same number at each temperature, drawn with a fixed seed from all 313 prompts, each with an
`id`.
No judge's call is copied: the file holds what a reader needs and nothing else.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from tools import read_jsonl  # noqa: E402

KEPT = ("category", "temperature", "seed", "prompt", "response")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", type=Path)
    parser.add_argument("--per-temperature", type=int, default=80)
    parser.add_argument("--model", default="smollm2-135m-aligned")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="a", help="the ids' first letter")
    parser.add_argument("--out", type=Path, default=HERE / "answers.jsonl")
    args = parser.parse_args()
    rows = [
        r
        for r in read_jsonl(args.check / "generations.jsonl")
        if r["model"] == "candidate" and r["suite"] == "harmful"
    ]
    rng = random.Random(args.seed)
    chosen = []
    for temperature in sorted({r["temperature"] for r in rows}):
        at = [r for r in rows if r["temperature"] == temperature]
        chosen += rng.sample(at, min(args.per_temperature, len(at)))
    with args.out.open("w", encoding="utf-8") as out:
        for number, row in enumerate(chosen, 1):
            answer = {"id": f"{args.prefix}{number:03d}", "model": args.model}
            out.write(json.dumps(answer | {k: row[k] for k in KEPT}, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} answers to label in {args.out}")


if __name__ == "__main__":
    main()
