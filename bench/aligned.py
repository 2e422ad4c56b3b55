"""The aligned embedded model against the original, on the full StrongREJECT: one run, this CPU.

Both models answer all 313 StrongREJECT prompts and all 260 benign-edgy prompts at T=0 and at
T=0.7 (min_p 0.1, seed 0), 64 new tokens (as in the answers labels/aligned/ reads), in one
`gate check` (the original as the base, so the deltas come with paired intervals). Every harm
judge that runs on a CPU then judges the stored answers again (`gate judge`), with no answer
generated twice. Utility is the loss on the 40
held-out benign tasks of bench/data (from the adapter's own manifest, measured before and after
training in one run) and the share of those tasks each model answers correctly (greedy).

    .venv/bin/python bench/aligned.py [--out bench-out/aligned] [--model M] [--adapter A]
        [--base M] [--limit N]

With `--model`/`--adapter` it measures any model against `--base` the same way (bench/collapse.py
uses it for the fine-tunes of the aligned model).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATE = str(Path(sys.executable).with_name("gate"))
ORIGINAL = "embedded:smollm2-135m-instruct"
ALIGNED = "embedded:smollm2-135m-aligned"
SHIPPED = ROOT / "gate" / "models" / "embedded" / "smollm2-135m-aligned"
HELDOUT = ROOT / "bench" / "data" / "benign-heldout.jsonl"
CPU_HARM_JUDGES = ("phrases", "keyword", "learned")

CONFIG = """\
[model]
path = "{model}"
{adapter}
[base]
path = "{base}"

[benchmark]
name = "strongreject"
{limit}
[[suites]]
kind = "harmful"
judge = "phrases"

[[suites]]
kind = "over_refusal"
benchmark = {edgy}
judge = "refusal-phrases"

[sampling]
temperatures = [0.0, 0.7]
seeds = [0]
min_p = 0.1
max_new_tokens = 64

[early_stopping]
enabled = false

[outputs]
dir = "{out}"
"""


def gate(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    code = subprocess.run([GATE, *args], cwd=ROOT).returncode
    if code not in ok:
        raise SystemExit(f"gate {' '.join(args[:2])} failed with exit {code}")


def task_key(expected: str) -> str:
    """The checkable part of a held-out task's answer: the quoted word, the list, or the number."""
    quoted = re.findall(r"'([^']+)'", expected)
    if expected.startswith(("The plural", "An antonym")) and quoted:
        return quoted[-1]
    if expected.startswith("In alphabetical order:"):
        return expected.split(":", 1)[1].strip().rstrip(".")
    return re.findall(r"\d+", expected)[-1]


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def task_score(generations: Path) -> tuple[int, int]:
    """Held-out tasks whose answer contains the expected key, and how many were asked."""
    expected = {row["prompt"]: row["response"] for row in map(json.loads, HELDOUT.open()) if row}
    rows = [json.loads(line) for line in generations.open() if line.strip()]
    right = sum(
        f" {normalise(task_key(expected[r['prompt']]))} " in f" {normalise(r['response'])} "
        for r in rows
    )
    return right, len(rows)


def utility(out: Path, model: str, adapter: str | None) -> tuple[int, int]:
    folder = out / f"tasks-{'adapter' if adapter else model.split(':')[-1]}"
    extra = ["--adapter", adapter] if adapter else []
    gate("eval", "--model", model, *extra, "--benchmark", str(HELDOUT), "--temperature", "0",
         "--max-new-tokens", "48", "--out", str(folder))  # fmt: skip
    return task_score(folder / "generations.jsonl")


def measure(out: Path, model: str, adapter: str | None, base: str, limit: int | None) -> None:
    """Check, judge again with every CPU harm judge, score the held-out tasks; print it all."""
    config = out / "gate.toml"
    config.write_text(
        CONFIG.format(
            model=model,
            adapter=f'adapter = "{adapter}"\n' if adapter else "",
            base=base,
            limit=f"limit = {limit}\n" if limit else "",
            edgy=f'{{ name = "benign-edgy", limit = {limit} }}' if limit else '"benign-edgy"',
            out=out / "check",
        )
    )
    gate("check", "--config", str(config), "--no-tracking", ok=(0, 1))
    judged = {CPU_HARM_JUDGES[0]: _read(out / "check")}
    for judge in CPU_HARM_JUDGES[1:]:
        gate("judge", "--judge", judge, "--generations", str(out / "check"),
             "--out", str(out / f"judge-{judge}"), ok=(0, 1))  # fmt: skip
        judged[judge] = _read(out / f"judge-{judge}")
    print_figures(judged, utility(out, model, adapter), utility(out, base, None))
    trained = Path(adapter) if adapter else SHIPPED if model == ALIGNED else None
    if trained is not None:
        training = json.loads((trained / "finetune.json").read_text())["training"]
        print(f"held-out loss (its training run): before {training['heldout_loss_before']:.4f}, "
              f"after {training['heldout_loss_after']:.4f}")  # fmt: skip


def _read(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / "result.json").read_text())
    return result


def _pct(estimate: dict[str, Any]) -> str:
    return f"{estimate['value']:.1%} [{estimate['lower']:.1%}, {estimate['upper']:.1%}]"


def print_figures(
    judged: dict[str, dict[str, Any]], candidate: tuple[int, int], base: tuple[int, int]
) -> None:
    print("| suite | judge | T | candidate | base | delta (paired 95% CI) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for judge, result in judged.items():
        for suite in result["suites"]:
            if judge != CPU_HARM_JUDGES[0] and suite["kind"] != "harmful":
                continue
            name = f"{suite['name']} | {suite['judge']['name']}"
            for temperature, estimate in suite["candidate"]["per_temperature"].items():
                base_estimate = suite["base"]["per_temperature"][temperature]
                print(f"| {name} | {temperature} | {_pct(estimate)} | {_pct(base_estimate)} | |")
            delta = suite["derived"].get(f"delta_{suite['quantity']}")
            pooled = f"{_pct(suite['candidate']['pooled'])} | {_pct(suite['base']['pooled'])}"
            print(f"| {name} | pooled | {pooled} | {_pct(delta) if delta else ''} |")
    print(f"\nheld-out tasks right (greedy): candidate {candidate[0]}/{candidate[1]}, "
          f"base {base[0]}/{base[1]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "aligned")
    parser.add_argument("--model", default=ALIGNED)
    parser.add_argument("--adapter")
    parser.add_argument("--base", default=ORIGINAL)
    parser.add_argument("--limit", type=int, help="a stratified sample of each benchmark")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    measure(args.out, args.model, args.adapter, args.base, args.limit)


if __name__ == "__main__":
    main()
