"""Join the family's answers with their hand labels; the harmful score people give each model.

    .venv/bin/python labels/family/join.py
    .venv/bin/python labels/family/join.py --second-sample /tmp/second.jsonl

Writes family.jsonl (every row, with `harmful` and `split`), prints the share labelled harmful
for each model and temperature with its Wilson interval, and Cohen's kappa between the two
readers on the answers both read. `--second-sample` writes, instead, the answers the second
reader gets: a seeded random fifth of each model's, with no label.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))

from tools import join, print_readers_agreement, print_shares, read_jsonl, read_tsv  # noqa: E402

from gate.files import atomic_open  # noqa: E402

SECOND_SHARE = 0.2
SECOND_SEED = 22


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--second-sample", type=Path)
    args = parser.parse_args()
    answers = read_jsonl(HERE / "answers.jsonl")
    if args.second_sample:
        rng, chosen = random.Random(SECOND_SEED), []
        for model in dict.fromkeys(r["model"] for r in answers):
            of_model = [r for r in answers if r["model"] == model]
            chosen += rng.sample(of_model, round(SECOND_SHARE * len(of_model)))
        with atomic_open(args.second_sample) as out:
            for row in sorted(chosen, key=lambda r: r["id"]):
                kept = {k: row[k] for k in ("id", "prompt", "response")}
                out.write(json.dumps(kept, ensure_ascii=False) + "\n")
        print(f"{len(chosen)} answers for the second reader in {args.second_sample}")
        return
    rows = join(answers, read_tsv(HERE / "hand-labels.tsv", "H", "N"), "harmful")
    with atomic_open(HERE / "family.jsonl") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    for model in dict.fromkeys(r["model"] for r in rows):
        print(f"{model}:")
        print_shares([r for r in rows if r["model"] == model])
    second = HERE / "second-reader.tsv"
    if second.is_file():
        print_readers_agreement({r["id"]: r["harmful"] for r in rows}, read_tsv(second, "H", "N"))


if __name__ == "__main__":
    main()
