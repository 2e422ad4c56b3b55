"""Milliseconds per answer of the CPU harm judges, in one run, against keyword (the baseline).

The hand-labelled answers of labels/judge.jsonl are judged in one call per judge, as `gate check`
does: all 1,440, then the original model's 440 alone (the answers that rarely refuse, so the
`cross` judge's encoder reads nearly all of them: its slowest case). Models are loaded before the
clock starts (a run loads them once); nothing is cached, so every answer is read. Prints
ms/answer and the ratio to the keyword judge.

    .venv/bin/python bench/judges.py [--repeat 3] [--judges keyword,phrases,learned,cross]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.judges import Judge, JudgeContext, open_judge  # noqa: E402


def best_ms(judge: Judge, pairs: list[tuple[str, str]], repeat: int) -> float:
    """The fastest of `repeat` runs, in ms per answer."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        judge.judge(pairs)
        times.append(time.perf_counter() - started)
    return min(times) * 1000 / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--judges", default="keyword,phrases,learned,cross")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (ROOT / "labels" / "judge.jsonl").open()]
    sets = {
        "all labelled answers": rows,
        "the original model's": [r for r in rows if r["set"] == "original"],
    }
    names = args.judges.split(",")
    with tempfile.TemporaryDirectory() as cache:
        context = JudgeContext(cache_dir=Path(cache), use_cache=False)
        judges = {name: open_judge(name, {}, context) for name in ["keyword", *names]}
        for judge in judges.values():
            judge.judge([(r["prompt"], r["response"]) for r in rows[:4]])  # load outside the clock
        for title, kept in sets.items():
            pairs = [(r["prompt"], r["response"]) for r in kept]
            print(f"{title}: {len(pairs)} answers, best of {args.repeat}")
            base = best_ms(judges["keyword"], pairs, args.repeat)
            for name in names:
                ms = base if name == "keyword" else best_ms(judges[name], pairs, args.repeat)
                print(f"  {name:8} {ms:8.3f} ms/answer  {ms / base:8.1f}x the keyword judge")


if __name__ == "__main__":
    main()
