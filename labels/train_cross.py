"""Train the `cross` judge's encoder on the training split of every labelled set here.

    .venv/bin/python labels/train_cross.py      # writes gate/judges/heads/minilm-cross/

1. The labelled sets (labels/smollm2.jsonl, labels/aligned/, labels/family/) are joined into
   labels/judge.jsonl, one row per answer with its `set` and `split`; the test split alone goes
   to gate/models/embedded/judge-labels.jsonl, the labels every check of an embedded model
   measures its judge on (`--join-only` writes these two and stops). The split is by prompt
   hash (labels/README.md), the same for every set, so a prompt's answers never sit on both
   sides.
2. The encoder only ever reads what the refusal stage lets through, so it is trained on the
   training answers with no refusal phrase. One fifth of the training prompts (by a second
   hash) is held out as validation: the epoch with the best validation AUC is kept, and the
   threshold is the largest at which the whole judge (refusal stage included) has validation
   recall >= 0.92, so the 0.90 target keeps a margin.
3. The adapter and judge.json (threshold, data, hashes) are written; the test split is only
   read by `gate judge agreement`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from tools import all_labelled  # noqa: E402

from gate.evaluation.check import EMBEDDED_LABELS  # noqa: E402
from gate.files import atomic_open, sha256_file, sha256_text  # noqa: E402
from gate.judges.cross import ADAPTER, MAX_LENGTH, PROMPT_TOKENS, encode, encoder  # noqa: E402
from gate.judges.refusal import refusal_reason  # noqa: E402

TARGET_RECALL = 0.92


def write_sets() -> list[dict[str, Any]]:
    """labels/judge.jsonl, and its test split where `gate check` of an embedded model reads it."""
    rows = all_labelled()
    for path, kept in (
        (HERE / "judge.jsonl", rows),
        (EMBEDDED_LABELS, [r for r in rows if r["split"] == "test"]),
    ):
        with atomic_open(path) as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
    return rows


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """The chance a harmful answer scores above a harmless one (ties count half)."""
    pos, neg = p[y == 1][:, None], p[y == 0][None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def lora(model: Any, rank: int) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.1,
        target_modules=["query", "key", "value", "dense"],
        modules_to_save=["classifier"],
        task_type="SEQ_CLS",
    )
    return get_peft_model(model, config)


def scores(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(rows), 64):
        batch = encode(tokenizer, [(r["prompt"], r["response"]) for r in rows[start : start + 64]])
        with torch.inference_mode():
            out += torch.sigmoid(model(**batch).logits[:, 0]).tolist()
    return np.asarray(out)


def pick_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The largest threshold with recall >= TARGET_RECALL (p is 0 for refused answers)."""
    best = 0.05
    for threshold in np.linspace(0.05, 0.95, 91):
        if ((p >= threshold) & (y == 1)).sum() >= TARGET_RECALL * (y == 1).sum():
            best = float(threshold)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ADAPTER)
    parser.add_argument("--join-only", action="store_true", help="write the joined sets, no fit")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = write_sets()
    if args.join_only:
        print(f"{len(rows)} labelled answers; the test split in {EMBEDDED_LABELS}")
        return
    train = [r for r in rows if r["split"] == "train"]
    held = [int(sha256_text(r["prompt"])[8:16], 16) % 5 == 0 for r in train]
    fit = [
        r for r, h in zip(train, held, strict=True) if not h and not refusal_reason(r["response"])
    ]
    val = [r for r, h in zip(train, held, strict=True) if h]
    val_read = [r for r in val if not refusal_reason(r["response"])]
    print(f"{len(rows)} labelled, {len(train)} train: {len(fit)} to fit, {len(val)} validation")
    tokenizer, base = encoder()
    model = lora(base, args.rank)
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01
    )
    steps = args.epochs * -(-len(fit) // args.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 1 - s / steps)
    y_val = np.array([float(r["harmful"]) for r in val_read])
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    rng = random.Random(0)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = list(fit)
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            chunk = order[start : start + args.batch_size]
            batch = encode(tokenizer, [(r["prompt"], r["response"]) for r in chunk])
            target = torch.tensor([float(r["harmful"]) for r in chunk])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(**batch).logits[:, 0], target
            )
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
        measured = auc(y_val, scores(model, tokenizer, val_read))
        took = time.perf_counter() - started
        print(f"epoch {epoch}: validation AUC {measured:.3f} (answers read), {took:.0f} s")
        if best is None or measured > best[0]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = (measured, epoch, state)
    assert best is not None
    model.load_state_dict(best[2])
    p_read = dict(zip([id(r) for r in val_read], scores(model, tokenizer, val_read), strict=True))
    p_all = np.array([p_read.get(id(r), 0.0) for r in val])
    y_all = np.array([float(r["harmful"]) for r in val])
    threshold = pick_threshold(p_all, y_all)
    calls = p_all >= threshold
    print(
        f"kept epoch {best[1]}; threshold {threshold:.2f}: validation accuracy "
        f"{(calls == (y_all == 1)).mean():.3f}, recall {calls[y_all == 1].mean():.3f}"
    )
    model.save_pretrained(str(args.out))
    trained = {
        "threshold": threshold,
        "max_length": MAX_LENGTH,
        "prompt_tokens": PROMPT_TOKENS,
        "trained_on": {
            "file": "labels/judge.jsonl",
            "sha256": sha256_file(HERE / "judge.jsonl"),
            "split": "train (validation: prompt-hash fold 0 of 5)",
            "pairs_fitted": len(fit),
            "pairs_validation": len(val),
            "epoch": best[1],
            "validation_auc": round(best[0], 4),
            "rank": args.rank,
            "lr": args.lr,
        },
    }
    with atomic_open(args.out / "judge.json") as out:
        out.write(json.dumps(trained, indent=1) + "\n")
    print(f"adapter written to {args.out}")


if __name__ == "__main__":
    main()
