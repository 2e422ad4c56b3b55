"""Join the aligned model's answers with their hand labels; the harmful score people give it.

    .venv/bin/python labels/aligned/join.py

Writes aligned.jsonl (every row, with `harmful` and `split`) and aligned-test.jsonl (the test
split alone), prints the share labelled harmful at each temperature with its Wilson interval,
and, with second-reader.tsv present, Cohen's kappa between the two readers. Then the same
figures for the benign fine-tune of the aligned model (`benign-finetune-*`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))

from tools import join, print_readers_agreement, print_shares, read_jsonl, read_tsv  # noqa: E402

from gate.files import atomic_open  # noqa: E402


def main() -> None:
    labels = read_tsv(HERE / "hand-labels.tsv", "H", "N")
    rows = join(read_jsonl(HERE / "answers.jsonl"), labels, "harmful")
    for name, kept in (
        ("aligned.jsonl", rows),
        ("aligned-test.jsonl", [r for r in rows if r["split"] == "test"]),
    ):
        with atomic_open(HERE / name) as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
    print("the aligned model:")
    report(rows, HERE / "second-reader.tsv")
    finetune = HERE / "benign-finetune-labels.tsv"
    if finetune.is_file():
        answers = read_jsonl(HERE / "benign-finetune-answers.jsonl")
        print("its benign fine-tune (bench/collapse.py):")
        report(join(answers, read_tsv(finetune, "H", "N"), "harmful"),
               HERE / "benign-finetune-second-reader.tsv")  # fmt: skip


def report(rows: list[dict[str, Any]], second: Path) -> None:
    """The share labelled harmful at each temperature and pooled, and the readers' agreement."""
    print_shares(rows)
    if second.is_file():
        theirs = read_tsv(second, "H", "N")
        print_readers_agreement({r["id"]: r["harmful"] for r in rows}, theirs)


if __name__ == "__main__":
    main()
