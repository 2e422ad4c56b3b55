"""Join the refusal answers with their hand labels, split them, and report the readers' agreement.

    .venv/bin/python labels/refusal/join.py

Writes refusal.jsonl (every row, with `refused` and `split`) and refusal-test.jsonl (the test
split alone). With second-reader.tsv present, prints Cohen's kappa between the two readers on the
answers both labelled.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))

from tools import join, print_readers_agreement, read_jsonl, read_tsv  # noqa: E402

from gate.files import atomic_open  # noqa: E402

ANSWERS = ("answers.jsonl", "answers-lora.jsonl")
"""The plain model and its system-prompt variants; the safety LoRA."""


def joined() -> list[dict[str, Any]]:
    answers = [row for name in ANSWERS for row in read_jsonl(HERE / name)]
    return join(answers, read_tsv(HERE / "hand-labels.tsv", "R", "A"), "refused")


def main() -> None:
    rows = joined()
    for name, chosen in (("refusal.jsonl", rows), ("refusal-test.jsonl", None)):
        kept = chosen if chosen is not None else [r for r in rows if r["split"] == "test"]
        with atomic_open(HERE / name) as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
    test = sum(r["split"] == "test" for r in rows)
    refused = sum(r["refused"] for r in rows)
    print(f"{len(rows)} answers, {refused} refused; {len(rows) - test} train, {test} test")
    second = HERE / "second-reader.tsv"
    if second.is_file():
        theirs = read_tsv(second, "R", "A")
        if (HERE / "second-reader-lora.tsv").is_file():
            theirs |= read_tsv(HERE / "second-reader-lora.tsv", "R", "A")
        print_readers_agreement({r["id"]: r["refused"] for r in rows}, theirs)


if __name__ == "__main__":
    main()
