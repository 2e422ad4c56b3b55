"""Hashes of evaluation prompts, so training data can be shown never to contain one.

    python -m gate.evaluation.hashes > gate/evaluation/benchmarks/evaluation-prompts.sha256

A prompt's hash is the sha256 of its text normalised (lower case, runs of white space made one
space, ends stripped), so a copy that differs only in case or spacing still matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from gate.files import sha256_text

HASH_LIST = Path(__file__).with_name("benchmarks") / "evaluation-prompts.sha256"
OURS = ("benign-edgy", "benign-edgy-contrast")
"""The benchmarks written for this project, whose prompts the list holds."""


def prompt_hash(text: str) -> str:
    """The sha256 of `text`, normalised."""
    return sha256_text(re.sub(r"\s+", " ", text).strip().lower())


def benchmark_hashes(names: Iterable[str] = OURS) -> list[str]:
    """The sorted, distinct prompt hashes of the registered benchmarks `names`."""
    from gate.evaluation.data import load_benchmark

    return sorted({prompt_hash(p.text) for name in names for p in load_benchmark(name).prompts})


def read_hash_list(path: Path = HASH_LIST) -> set[str]:
    """The hashes of a list file, one per line; `#` starts a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def main() -> None:
    print(f"# sha256 of each normalised prompt of {', '.join(OURS)}; see README.md")
    print("\n".join(benchmark_hashes()))


if __name__ == "__main__":
    main()
