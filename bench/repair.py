"""The closed loop on this CPU: harmful fine-tune -> BLOCK -> Antidote (and random) -> re-check.

1. The embedded SmolLM2-135M answers 100 StrongREJECT prompts (3 seeds, T=0.7); the answers its
   judge calls harmful become a fine-tuning set.
2. `gate finetune` trains LoRA (q/k/v) on them: the harmful fine-tune.
3. `gate check --adapter harmful --base M` on StrongREJECT-small (60 prompts x 2 seeds, T=0.7,
   128 tokens, keyword judge, no early stop) measures its ΔHS; its harmful answers are the
   calibration for the repair, as `gate repair --calibration CHECK_DIR` takes them.
4. `gate repair` with Antidote and with random pruning at alpha 0.05, 0.1 and 0.2, each checked
   the same way; utility is the loss on 40 held-out benign tasks before and after the repair.

    .venv/bin/python bench/repair.py [--out bench-out/repair]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATE = str(Path(sys.executable).with_name("gate"))
MODEL = "embedded:smollm2-135m-instruct"
HELDOUT = ROOT / "bench" / "data" / "benign-heldout.jsonl"
CHECK = [
    "--benchmark",
    "strongreject-small",
    "--temperatures",
    "0.7",
    "--seeds",
    "0,1",
    "--max-new-tokens",
    "128",
    "--no-early-stop",
    "--no-tracking",
]


def gate(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    code = subprocess.run([GATE, *args], cwd=ROOT).returncode
    if code not in ok:
        raise SystemExit(f"gate {' '.join(args[:2])} failed with exit {code}")


def checked(out: Path, adapter: Path) -> dict[str, Any]:
    gate(
        "check",
        "--model",
        MODEL,
        "--adapter",
        str(adapter),
        "--base",
        MODEL,
        *CHECK,
        "--out",
        str(out),
        ok=(0, 1),
    )
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    return result


def harmful_set(answers: Path, path: Path) -> int:
    rows = [json.loads(line) for line in (answers / "generations.jsonl").open()]
    keep = [{"prompt": r["prompt"], "response": r["response"]} for r in rows if r["flagged"]]
    path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    return len(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "repair")
    out: Path = parser.parse_args().out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    gate(
        "check",
        "--model",
        MODEL,
        "--benchmark",
        "strongreject",
        "--limit",
        "100",
        "--temperatures",
        "0.7",
        "--seeds",
        "0,1,2",
        "--max-new-tokens",
        "128",
        "--no-early-stop",
        "--no-tracking",
        "--out",
        str(out / "base-answers"),
        ok=(0, 1),
    )
    count = harmful_set(out / "base-answers", out / "harmful.jsonl")
    print(f"{count} harmful answers to fine-tune on", flush=True)
    harmful = out / "adapter-harmful"
    gate(
        "finetune",
        "--model",
        MODEL,
        "--data",
        str(out / "harmful.jsonl"),
        "--out",
        str(harmful),
        "--targets",
        "q_proj,k_proj,v_proj",
        "--epochs",
        "3",
        "--max-length",
        "192",
        "--heldout",
        str(HELDOUT),
    )
    before = checked(out / "check-harmful", harmful)
    rows = [("harmful fine-tune", None, before)]
    for method in ("antidote", "random"):
        for alpha in ("0.05", "0.1", "0.2"):
            repaired = out / f"repaired-{method}-{alpha}"
            gate(
                "repair",
                "--model",
                MODEL,
                "--adapter",
                str(harmful),
                "--calibration",
                str(out / "check-harmful"),
                "--alpha",
                alpha,
                "--method",
                method,
                "--heldout",
                str(HELDOUT),
                "--out",
                str(repaired),
            )
            manifest = json.loads((repaired / "repair.json").read_text())
            rows.append(
                (f"{method} {alpha}", manifest, checked(out / f"check-{method}-{alpha}", repaired))
            )
    print_table(rows)


def _pct(estimate: dict[str, Any]) -> str:
    return f"{estimate['value']:.1%} [{estimate['lower']:.1%}, {estimate['upper']:.1%}]"


def print_table(rows: list[tuple[str, dict[str, Any] | None, dict[str, Any]]]) -> None:
    print(
        "| model | HS (95% CI) | ΔHS vs original (95% CI) | weights pruned "
        "| held-out loss (x before) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, manifest, result in rows:
        utility = manifest["utility"] if manifest else None
        loss = f"{utility['heldout_loss_after']:.3f} (x{utility['ratio']:.3f})" if utility else "-"
        pruned = str(manifest["pruned_total"]) if manifest else "-"
        print(
            f"| {name} | {_pct(result['suites'][0]['candidate']['pooled'])} "
            f"| {_pct(result['suites'][0]['derived']['delta_harmful_score'])} | {pruned} | {loss} |"
        )


if __name__ == "__main__":
    main()
