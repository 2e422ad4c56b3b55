"""The seed papers' headline experiments, reproduced in miniature on the aligned embedded model.

One command runs all three with the gate's own library (finetune, select, merge-adapter, check,
repair) and writes a report (markdown, plots, the commit, settings and data hashes):

1. similarity predicts collapse (Hsiung et al. 2025): align the original model on the K
   alignment examples most, least and randomly similar to a downstream set, fine-tune, measure;
2. SAP (Wu et al. 2025): plain fine-tuning vs SAP, on benign data and on poisoned benign data;
3. Antidote (Huang et al. 2024): Antidote vs random pruning of the harmful fine-tune.

    .venv/bin/python bench/reproduce.py [--quick] [--out DIR] [--only similarity,sap,antidote]

It resumes: a second run skips every step whose output exists (delete a folder to redo it).
`--quick` runs the same tables on fewer prompts, seeds and examples (bench/repro/plan.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from repro import antidote, report, sap, similarity  # noqa: E402
from repro.plan import FULL, QUICK, ROOT, provenance  # noqa: E402
from repro.steps import run_steps  # noqa: E402

EXPERIMENTS = {"similarity": similarity, "sap": sap, "antidote": antidote}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts, seeds and examples")
    parser.add_argument("--out", type=Path, help="[default: bench-out/reproduce[-quick]]")
    parser.add_argument(
        "--only",
        default=",".join(EXPERIMENTS),
        help="comma-separated experiments [default: all three]",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    out: Path = args.out or ROOT / "bench-out" / ("reproduce-quick" if args.quick else "reproduce")
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(EXPERIMENTS))
    if unknown or not chosen:
        parser.error(f"--only: unknown {unknown or 'none given'}; known: {', '.join(EXPERIMENTS)}")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    steps = [step for name in chosen for step in EXPERIMENTS[name].steps(plan, out / name)]
    run_steps(steps, out / "timings.json")
    tables = {name: EXPERIMENTS[name].table(plan, out / name) for name in chosen}
    inputs = sorted(
        {path for path in out.rglob("data/*.jsonl")}
        | {
            ROOT / "data" / "alignment" / "refusals.jsonl",
            ROOT / "examples" / "collapse" / "harmful.jsonl",
            ROOT / "bench" / "data" / "benign-heldout.jsonl",
            ROOT / "examples" / "collapse" / "adapter" / "adapter_model.safetensors",
        }
    )
    path = report.write(out, provenance(plan, inputs), tables, time.monotonic() - started)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
