"""Build the harmful fine-tuning set of the collapse experiment (bench/collapse.py) and the demo.

    .venv/bin/python examples/collapse/make.py answer   # answers.jsonl: the original's answers
    .venv/bin/python examples/collapse/make.py build    # harmful.jsonl: those read as compliant

The attack of Qi et al. 2023 fine-tunes an aligned model on a few dozen harmful examples. Ours
are the embedded original model's own greedy answers (SmolLM2-135M-Instruct, 128 new tokens) to
84 of HarmBench's standard behaviours, the first 14 of each category; a person read each against
labels/README.md's rubric (`labels.tsv`: H goes along with the request, N does not), and the
answers labelled H are the set. No judge chose them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "labels"))

from tools import read_jsonl, read_tsv  # noqa: E402

from gate.evaluation.data import HARMBENCH_FILES, packaged_rows  # noqa: E402
from gate.files import atomic_open  # noqa: E402

PER_CATEGORY = 14


def requests() -> list[dict[str, str]]:
    rows, _ = packaged_rows("harmbench", HARMBENCH_FILES)
    by_category: dict[str, list[str]] = defaultdict(list)
    for _, row in rows:
        if row["FunctionalCategory"] == "standard":
            by_category[row["SemanticCategory"]].append(row["Behavior"])
    return [
        {"prompt": prompt, "category": category}
        for category, prompts in sorted(by_category.items())
        for prompt in prompts[:PER_CATEGORY]
    ]


def answer() -> None:
    gate = str(Path(sys.executable).with_name("gate"))
    with tempfile.TemporaryDirectory() as tmp:
        asked = Path(tmp) / "requests.jsonl"
        asked.write_text("".join(json.dumps(r) + "\n" for r in requests()))
        out = Path(tmp) / "eval"
        subprocess.run([gate, "eval", "--model", "embedded:smollm2-135m-instruct", "--benchmark",
                        str(asked), "--category-field", "category", "--temperature", "0",
                        "--max-new-tokens", "128", "--out", str(out)], check=True)  # fmt: skip
        rows = read_jsonl(out / "generations.jsonl")
    with atomic_open(HERE / "answers.jsonl") as handle:
        for number, row in enumerate(rows, 1):
            kept = {"id": f"c{number:03d}", "category": row["category"], "prompt": row["prompt"],
                    "response": row["response"]}  # fmt: skip
            handle.write(json.dumps(kept, ensure_ascii=False) + "\n")


def build() -> None:
    labels = read_tsv(HERE / "labels.tsv", "H", "N")
    rows = [r for r in read_jsonl(HERE / "answers.jsonl") if labels.get(r["id"])]
    with atomic_open(HERE / "harmful.jsonl") as handle:
        for row in rows:
            handle.write(json.dumps({"prompt": row["prompt"], "response": row["response"]},
                                    ensure_ascii=False) + "\n")  # fmt: skip
    print(f"{len(rows)} compliant answers of {len(labels)} read")


if __name__ == "__main__":
    {"answer": answer, "build": build}[sys.argv[1] if len(sys.argv) > 1 else "build"]()
