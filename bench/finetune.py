"""Does fine-tuning with safety kept in keep the harmful score down? One run, on this CPU.

The embedded SmolLM2-135M-Instruct is fine-tuned with LoRA on a benign set (bench/data, 200
checkable tasks) three ways, with the same seed and settings:

- `plain`: the data alone;
- `low-mix`: plus the 16 alignment examples (examples/alignment.jsonl) least similar to it;
- `sap`: safety-aware probing, its triples built from the base model's own answers to 100
  StrongREJECT prompts (a `gate check` run: refusals safe, the judge's harmful calls harmful).

Each adapter is then checked against the base with `gate check --adapter A --base M` on
StrongREJECT-small (60 prompts x 2 seeds, T=0.7, 128 tokens, keyword judge, no early stop), which
reports ΔHS with its bootstrap interval. Utility is the loss on 40 held-out benign tasks before
and after. Everything goes through the `gate` CLI, as a user would run it.

    .venv/bin/python bench/finetune.py [--out bench-out/finetune] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATE = str(Path(sys.executable).with_name("gate"))
MODEL = "embedded:smollm2-135m-instruct"
DATA = ROOT / "bench" / "data"


def gate(*args: str, ok: tuple[int, ...] = (0,)) -> float:
    """Run the gate CLI; returns its wall time."""
    started = time.monotonic()
    code = subprocess.run([GATE, *args], cwd=ROOT).returncode
    if code not in ok:
        raise SystemExit(f"gate {' '.join(args[:2])} failed with exit {code}")
    return time.monotonic() - started


def check(out: Path, *extra: str) -> dict[str, Any]:
    args = ["check", "--model", MODEL, "--benchmark", "strongreject-small", "--temperatures",
            "0.7", "--seeds", "0,1", "--max-new-tokens", "128", "--no-early-stop",
            "--no-tracking", "--out", str(out), *extra]  # fmt: skip
    gate(*args, ok=(0, 1))
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "finetune")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    alignment = ROOT / "examples" / "alignment.jsonl"
    gate("index", "build", "--alignment", str(alignment), "--out", str(out / "index"))
    base_answers = out / "base-answers"
    gate("check", "--model", MODEL, "--benchmark", "strongreject", "--limit", "100",
         "--temperatures", "0.7", "--seeds", "0,1,2", "--max-new-tokens", "128",
         "--no-early-stop", "--no-tracking", "--out", str(base_answers), ok=(0, 1))  # fmt: skip
    common = ["--model", MODEL, "--data", str(DATA / "benign-train.jsonl"), "--heldout",
              str(DATA / "benign-heldout.jsonl"), "--epochs", str(args.epochs),
              "--max-length", "128", "--seed", "0"]  # fmt: skip
    runs = {
        "plain": [],
        "low-mix": ["--index", str(out / "index"), "--alignment", str(alignment), "--mix", "low",
                    "--mix-size", "16"],
        "sap": ["--defense", "sap", "--safety-triples", str(base_answers)],
    }  # fmt: skip
    rows = []
    for name, extra in runs.items():
        adapter = out / f"adapter-{name}"
        seconds = gate("finetune", *common, *extra, "--out", str(adapter))
        manifest = json.loads((adapter / "finetune.json").read_text())
        result = check(out / f"check-{name}", "--adapter", str(adapter), "--base", MODEL)
        rows.append((name, seconds, manifest, result))
    print_table(rows)


def _pct(estimate: dict[str, Any]) -> str:
    return f"{estimate['value']:.1%} [{estimate['lower']:.1%}, {estimate['upper']:.1%}]"


def print_table(rows: list[tuple[str, float, dict[str, Any], dict[str, Any]]]) -> None:
    print("| run | HS candidate | HS base | ΔHS (95% CI) | held-out loss before -> after | "
          "train loss first -> last | fine-tune wall time |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, seconds, manifest, result in rows:
        suite, training = result["suites"][0], manifest["training"]
        print(
            f"| {name} | {_pct(suite['candidate']['pooled'])} | {_pct(suite['base']['pooled'])} "
            f"| {_pct(suite['derived']['delta_harmful_score'])} "
            f"| {training['heldout_loss_before']:.3f} -> {training['heldout_loss_after']:.3f} "
            f"| {training['first_loss']:.3f} -> {training['last_loss']:.3f} | {seconds:.0f} s |"
        )


if __name__ == "__main__":
    main()
