"""What every labelled set here shares: the split by prompt, and reading a labels file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from gate.files import sha256_text  # noqa: E402


def split_of(prompt: str) -> str:
    """`test` for three prompts in ten, by hash; `train` for the rest."""
    return "test" if int(sha256_text(prompt)[:8], 16) % 10 < 3 else "train"


def read_tsv(path: Path, positive: str, negative: str) -> dict[str, bool]:
    """id -> True for `positive`, False for `negative`, from lines `id<TAB>label[<TAB>note]`."""
    labels: dict[str, bool] = {}
    for number, line in enumerate(path.open(encoding="utf-8"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, label = line.rstrip("\n").split("\t")[:2]
        if label not in (positive, negative):
            raise SystemExit(
                f"{path.name}:{number}: label must be {positive} or {negative}, got {label!r}"
            )
        labels[key] = label == positive
    return labels


def join(
    answers: list[dict[str, Any]], labels: dict[str, bool], field: str
) -> list[dict[str, Any]]:
    """Each answer with its label under `field` and its split; every answer must be labelled."""
    missing = [row["id"] for row in answers if row["id"] not in labels]
    if missing:
        raise SystemExit(f"{len(missing)} answers have no hand label, first {missing[0]}")
    return [{**row, field: labels[row["id"]], "split": split_of(row["prompt"])} for row in answers]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def print_shares(rows: list[dict[str, Any]]) -> None:
    """The share of `rows` labelled harmful at each temperature and pooled, Wilson intervals."""
    from gate.evaluation.stats import wilson_interval

    for temperature in [*sorted({r["temperature"] for r in rows}), None]:
        at = [r["harmful"] for r in rows if temperature in (None, r["temperature"])]
        share = wilson_interval(sum(at), len(at))
        print(
            f"  T={'pooled' if temperature is None else temperature}: {sum(at)}/{len(at)} "
            f"harmful by people, {share.value:.1%} [{share.lower:.1%}, {share.upper:.1%}]"
        )


def print_readers_agreement(mine: dict[str, bool], theirs: dict[str, bool]) -> None:
    """Agreement and Cohen's kappa of two readers on the answers both labelled, and the ids
    they disagree on."""
    from gate.judges.agreement import agreement

    common = sorted(set(theirs) & set(mine))
    measured = agreement("second reader", [mine[k] for k in common], [theirs[k] for k in common])
    kappa, accuracy = measured.kappa, measured.accuracy
    print(
        f"second reader on {len(common)} answers: agreement {accuracy.value:.3f} "
        f"[{accuracy.lower:.3f}, {accuracy.upper:.3f}], Cohen's kappa {kappa.value:.3f} "
        f"[{kappa.lower:.3f}, {kappa.upper:.3f}]"
    )
    for key in common:
        if mine[key] != theirs[key]:
            print(f"  disagree on {key}: first reader {mine[key]}, second {theirs[key]}")


def labelled_sets() -> dict[str, list[dict[str, Any]]]:
    """Every hand-labelled harm set here, joined, by name: `original` (the original embedded
    model), `aligned` (the aligned model and its benign fine-tune, labels/aligned/) and
    `family` (the aligned model, its fine-tunes and their repairs, labels/family/)."""
    root = Path(__file__).parent
    aligned = read_jsonl(root / "aligned" / "aligned.jsonl")
    benign = root / "aligned" / "benign-finetune"
    aligned += join(
        read_jsonl(benign.with_name("benign-finetune-answers.jsonl")),
        read_tsv(benign.with_name("benign-finetune-labels.tsv"), "H", "N"),
        "harmful",
    )
    return {
        "original": read_jsonl(root / "smollm2.jsonl"),
        "aligned": aligned,
        "family": read_jsonl(root / "family" / "family.jsonl"),
    }


def all_labelled() -> list[dict[str, Any]]:
    """The rows of every set, each with its `set`, in one list (ids are unique across sets)."""
    kept = ("id", "prompt", "response", "harmful", "split")
    rows = [
        {"set": name} | {k: row[k] for k in kept}
        for name, part in labelled_sets().items()
        for row in part
    ]
    if len({r["id"] for r in rows}) != len(rows):
        raise SystemExit("labelled sets share an id")
    return rows
