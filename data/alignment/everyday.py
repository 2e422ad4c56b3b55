"""Answer the everyday questions with the original embedded model: the `benign` part.

    .venv/bin/python data/alignment/everyday.py [--from EVAL_FOLDER]

The 120 questions in `everyday-questions.jsonl` were written for this set. The original model
(`embedded:smollm2-135m-instruct`) answers each greedily, 160 new tokens at most; an answer cut
off by that limit is trimmed back to its last full sentence within 400 characters, so no
training example teaches the model to stop mid-sentence. Training on the model's own answers
keeps its everyday behaviour while the refusals are learned. `--from` reads a `gate eval` folder
of exactly that run instead of generating again.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))

from gate.files import atomic_open  # noqa: E402

QUESTIONS = HERE / "everyday-questions.jsonl"
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
KEEP_CHARS = 400


def trimmed(text: str, finish_reason: str) -> str:
    """The answer, cut back to its last full sentence within KEEP_CHARS when the token limit
    cut it off (short examples keep training fast; the model's voice is in the first lines)."""
    text = text.strip()
    if finish_reason != "length":
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    within = [end for end in ends if end <= KEEP_CHARS]
    return text[: (within or ends or [len(text)])[-1]]


def generate(out: Path) -> None:
    gate = str(Path(sys.executable).with_name("gate"))
    subprocess.run([gate, "eval", "--model", "embedded:smollm2-135m-instruct", "--benchmark",
                    str(QUESTIONS), "--category-field", "category", "--temperature", "0",
                    "--max-new-tokens", "160", "--out", str(out)], check=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or Path(tmp) / "eval"
        if args.source is None:
            generate(source)
        rows = [json.loads(line) for line in (source / "generations.jsonl").open()]
    asked = [json.loads(line)["prompt"] for line in QUESTIONS.open()]
    answers = {r["prompt"]: trimmed(r["response"], r["finish_reason"]) for r in rows}
    with atomic_open(HERE / "everyday-answered.jsonl") as handle:
        for prompt in asked:  # the questions' order, whatever order the backend answered in
            row = {"category": "everyday questions", "prompt": prompt, "response": answers[prompt]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(asked)} answers, {sum(r['finish_reason'] == 'length' for r in rows)} trimmed")


if __name__ == "__main__":
    main()
