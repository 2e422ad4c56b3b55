"""Answers under attack, labelled by people: does the judge still agree with them there?

    .venv/bin/python labels/attacks/join.py --sample        # from bench-out/attacks
    .venv/bin/python labels/attacks/join.py --second-sample /tmp/second.jsonl
    .venv/bin/python labels/attacks/join.py                 # agreement, once labelled

`--sample` draws, with a fixed seed, 2 candidate answers per (model, suite) of the four checks
bench/attacks.py ran (the bare suite and each attack): 64 answers, written to answers.jsonl with
the request as written and the answer as the judge read it (decoded where the attack encoded
it), and no judge's call; the judge's calls go to judge-calls.tsv, which no reader opens before
labelling. Without flags it prints the share people called harmful per attack family, the
judge's agreement with the first reader per family, and the two readers' agreement.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent))

from tools import print_readers_agreement, read_jsonl, read_tsv  # noqa: E402

from gate.files import atomic_open  # noqa: E402
from gate.judges.agreement import agreement  # noqa: E402
from gate.records.answers import read_answers  # noqa: E402

MODELS = ("aligned", "benign-light", "benign", "harmful")
PER_CELL, SEED = 2, 24
SECOND_SHARE, SECOND_SEED = 0.5, 25
FAMILY = {
    "harmful": "none",
    "prefix-injection": "instruction",
    "refusal-suppression": "instruction",
    "style-injection": "instruction",
    "base64": "encoding",
    "rot13": "encoding",
    "fiction": "framing",
    "few-shot": "framing",
}


def sample(source: Path) -> None:
    rng = random.Random(SEED)
    rows: list[dict[str, str]] = []
    calls: list[str] = []
    for model in MODELS:
        records = [
            r
            for role, r in read_answers(source / model / "check" / "generations.jsonl")
            if role == "candidate"
        ]
        for suite in sorted({r.suite for r in records}):
            cell = sorted((r for r in records if r.suite == suite), key=lambda r: r.prompt.id)
            for record in rng.sample(cell, PER_CELL):
                key = f"a{len(rows) + 1:03d}"
                attack = suite.split("/")[-1]
                rows.append(
                    {
                        "id": key,
                        "model": model,
                        "attack": attack,
                        "family": FAMILY[attack],
                        "category": record.prompt.category,
                        "prompt": record.prompt.text,
                        "response": record.answer,
                    }
                )
                calls.append(f"{key}\t{'H' if record.judgement.flagged else 'N'}\n")
    with atomic_open(HERE / "answers.jsonl") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with atomic_open(HERE / "judge-calls.tsv") as out:
        out.write("# id\tthe cross judge's call in bench/attacks.py (H harmful, N not)\n")
        out.writelines(calls)
    print(f"{len(rows)} answers in {HERE / 'answers.jsonl'}")


def second_sample(path: Path) -> None:
    answers = read_jsonl(HERE / "answers.jsonl")
    chosen = random.Random(SECOND_SEED).sample(answers, round(SECOND_SHARE * len(answers)))
    with atomic_open(path) as out:
        for row in sorted(chosen, key=lambda r: r["id"]):
            kept = {k: row[k] for k in ("id", "prompt", "response")}
            out.write(json.dumps(kept, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} answers for the second reader in {path}")


def report() -> None:
    answers = {r["id"]: r for r in read_jsonl(HERE / "answers.jsonl")}
    people = read_tsv(HERE / "hand-labels.tsv", "H", "N")
    judge = read_tsv(HERE / "judge-calls.tsv", "H", "N")
    for family in ("none", "instruction", "encoding", "framing", "all"):
        ids = [k for k, r in answers.items() if family in ("all", r["family"])]
        harmful = sum(people[k] for k in ids)
        measured = agreement("cross", [people[k] for k in ids], [judge[k] for k in ids])
        acc = measured.accuracy
        print(
            f"{family}: {len(ids)} answers, people {harmful} harmful, judge "
            f"{sum(judge[k] for k in ids)}; judge accuracy {acc.value:.3f} "
            f"[{acc.lower:.3f}, {acc.upper:.3f}]"
        )
    second = HERE / "second-reader.tsv"
    if second.is_file():
        print_readers_agreement(people, read_tsv(second, "H", "N"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true")
    parser.add_argument("--source", type=Path, default=ROOT / "bench-out" / "attacks")
    parser.add_argument("--second-sample", type=Path)
    args = parser.parse_args()
    if args.sample:
        sample(args.source)
    elif args.second_sample:
        second_sample(args.second_sample)
    else:
        report()


if __name__ == "__main__":
    main()
