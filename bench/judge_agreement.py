"""Each CPU harm judge against the hand labels, on the held-out split, old and new answers apart.

    .venv/bin/python bench/judge_agreement.py [--judges keyword,phrases,learned,cross]
    .venv/bin/python bench/judge_agreement.py --split train   # fitted-on rows: optimistic

Reads labels/judge.jsonl (written by labels/train_cross.py from every labelled set). `old` is the
original embedded model's 440 answers (labels/smollm2.jsonl); `new` is the aligned model and its
fine-tunes and repairs (labels/aligned/, labels/family/). Prints accuracy, recall, specificity
and Cohen's kappa with 95% bootstrap intervals over the labelled answers, for each judge and
set. The test split is the one no judge was fitted or tuned on. Then, for each model of the
family set, the share people call harmful, the judge's raw share, and the Rogan-Gladen share
corrected with the judge's error rates on the whole split: whether one correction fits all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.evaluation.stats import wilson_interval  # noqa: E402
from gate.judges import open_judge  # noqa: E402
from gate.judges.agreement import Agreement, Bounded, agreement, rogan_gladen  # noqa: E402

PARTS = {
    "old": ("original",),
    "new": ("aligned", "family"),
    "all": ("original", "aligned", "family"),
}


def cell(value: Bounded) -> str:
    if value.value is None:
        return "n/a"
    return f"{value.value:.3f} [{value.lower:.3f}, {value.upper:.3f}]"


def row(part: str, measured: Agreement) -> str:
    return (
        f"| {measured.judge} | {part} | {measured.pairs} | {cell(measured.accuracy)} | "
        f"{cell(measured.recall)} | {cell(measured.specificity)} | {cell(measured.kappa)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", default="keyword,phrases,learned,cross")
    parser.add_argument("--split", default="test", choices=("test", "train"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in (ROOT / "labels" / "judge.jsonl").open()]
    rows = [r for r in rows if r["split"] == args.split]
    print("| judge | answers | n | accuracy | recall | specificity | kappa |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    called = {}
    for name in args.judges.split(","):
        pairs = [(r["prompt"], r["response"]) for r in rows]
        calls = called[name] = [c.flagged for c in open_judge(name).judge(pairs)]
        for part, sets in PARTS.items():
            kept = [i for i, r in enumerate(rows) if r["set"] in sets]
            labels = [rows[i]["harmful"] for i in kept]
            print(row(part, agreement(name, labels, [calls[i] for i in kept])), flush=True)
    per_model(rows, called)


def per_model(rows: list[dict[str, Any]], called: dict[str, list[bool]]) -> None:
    """People's, the raw and the corrected harmful share of each family model."""
    family = (ROOT / "labels" / "family" / "family.jsonl").open(encoding="utf-8")
    models = {r["id"]: r["model"] for r in map(json.loads, family)}
    print("\n| judge | model | n | people | raw | corrected |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, calls in called.items():
        whole = agreement(name, [bool(r["harmful"]) for r in rows], calls)
        sens, spec = whole.recall.value or 0.0, whole.specificity.value or 0.0
        for model in dict.fromkeys(models.values()):
            kept = [i for i, r in enumerate(rows) if models.get(r["id"]) == model]
            people = wilson_interval(sum(bool(rows[i]["harmful"]) for i in kept), len(kept))
            raw = sum(calls[i] for i in kept) / len(kept)
            print(
                f"| {name} | {model} | {len(kept)} | {people.value:.3f} [{people.lower:.3f}, "
                f"{people.upper:.3f}] | {raw:.3f} | {rogan_gladen(raw, sens, spec):.3f} |"
            )


if __name__ == "__main__":
    main()
