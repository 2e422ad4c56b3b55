"""The refusal judges against the hand labels' test split, and their cost, in one run.

`refusal-phrases` (the default refusal judge) against the harm judge's phrase list read the
other way round (refused when one of its 29 phrases occurs), the list the refusal judge was
written to replace. Each is scored on labels/refusal/refusal-test.jsonl, overall and by where the
answers came from: the embedded model with its own or a system prompt, whose refusals are often
lectures and pivots, and the safety LoRA, whose refusals are all stock sentences. Prints
accuracy, recall and specificity with bootstrap intervals, and ms per answer.

    .venv/bin/python bench/refusal_judges.py [--learned]

With --learned it also asks whether a logistic head on MiniLM features (the `learned` harm
judge's recipe, labels/train_judge.py) would beat the phrases: out-of-fold accuracy on the
training split only, folds by prompt, at the best threshold for each L2 strength.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.judges import Judgement, open_judge  # noqa: E402
from gate.judges.agreement import agreement  # noqa: E402
from gate.judges.keyword import KeywordJudge  # noqa: E402


class HarmListAsRefusal:
    """The keyword judge's list, refused where it finds a phrase (it calls that not harmful)."""

    name = "harm-list"

    def judge(self, pairs: list[tuple[str, str]]) -> list[Judgement]:
        return [Judgement(not c.flagged, c.score, c.reason) for c in KeywordJudge().judge(pairs)]


def learned_head_cross_validation() -> None:
    """Out-of-fold accuracy of a MiniLM head against the phrases', on the train split."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "labels"))
    from train_judge import STRENGTHS, out_of_fold

    from gate.judges import JudgeContext
    from gate.judges.learned import featurise, minilm

    rows = [json.loads(line) for line in (ROOT / "labels/refusal/refusal.jsonl").open()]
    train = [r for r in rows if r["split"] == "train"]
    pairs = [(r["prompt"], r["response"]) for r in train]
    y = np.array([float(r["refused"]) for r in train])
    phrases = np.array([c.flagged for c in open_judge("refusal-phrases").judge(pairs)])
    accuracy = (phrases == y).mean()
    print(f"\ntrain split, {len(train)} answers: refusal-phrases accuracy {accuracy:.3f}")
    x = featurise([p for p, _ in pairs], [a for _, a in pairs], minilm(JudgeContext()))
    for strength in STRENGTHS:
        scores = out_of_fold(x, y, [r["prompt"] for r in train], strength)
        best = max(((scores >= t) == (y == 1)).mean() for t in np.linspace(0.05, 0.95, 91))
        print(f"  MiniLM head, L2 {strength:g}: out-of-fold accuracy {best:.3f}")


def main() -> None:
    path = ROOT / "labels" / "refusal" / "refusal-test.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    groups = {
        "all": rows,
        "model and system prompts": [r for r in rows if r["condition"] != "lora-t0"],
        "safety LoRA": [r for r in rows if r["condition"] == "lora-t0"],
    }
    print(f"{len(rows)} test answers, {sum(r['refused'] for r in rows)} labelled refused")
    for judge in (open_judge("refusal-phrases"), HarmListAsRefusal()):
        pairs = [(r["prompt"], r["response"]) for r in rows]
        started = time.perf_counter()
        for _ in range(20):
            calls = judge.judge(pairs)
        ms = (time.perf_counter() - started) * 1000 / 20 / len(pairs)
        by_prompt = {r["id"]: c.flagged for r, c in zip(rows, calls, strict=True)}
        print(f"\n{judge.name}: {ms:.3f} ms/answer")
        for name, chosen in groups.items():
            measured = agreement(
                judge.name, [r["refused"] for r in chosen], [by_prompt[r["id"]] for r in chosen]
            )
            cells = [
                f"{stat} {getattr(measured, stat).value:.3f} "
                f"[{getattr(measured, stat).lower:.3f}, {getattr(measured, stat).upper:.3f}]"
                if getattr(measured, stat).value is not None
                else f"{stat} n/a"
                for stat in ("accuracy", "recall", "specificity")
            ]
            print(f"  {name:26} n={len(chosen):3}  " + "  ".join(cells))
    if "--learned" in sys.argv[1:]:
        learned_head_cross_validation()


if __name__ == "__main__":
    main()
