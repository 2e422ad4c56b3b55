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
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from repro import antidote, report, sap, similarity  # noqa: E402
from repro.plan import FULL, QUICK, ROOT, provenance  # noqa: E402
from repro.steps import run_steps  # noqa: E402

EXPERIMENTS = {"similarity": similarity, "sap": sap, "antidote": antidote}


class Invocation:
    """This invocation's start and wall time in `log`, rewritten after every step so that even a
    killed run leaves its time behind: a resumed run's wall time is the sum over invocations."""

    def __init__(self, log: Path) -> None:
        self.log, self.began = log, time.monotonic()
        self.runs = json.loads(log.read_text()) if log.is_file() else []
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.runs.append({"started": started, "seconds": 0.0, "finished": False})

    def beat(self, finished: bool = False) -> None:
        self.runs[-1] |= {"seconds": round(time.monotonic() - self.began, 1), "finished": finished}
        self.log.write_text(json.dumps(self.runs, indent=1) + "\n")


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
    recorded, settings = out / "plan.json", json.dumps(plan.settings(), indent=1) + "\n"
    if recorded.is_file() and json.loads(recorded.read_text()) != json.loads(settings):
        parser.error(f"{out} holds a run of another plan; pass a new --out or delete it")
    recorded.write_text(settings)
    steps = [step for name in chosen for step in EXPERIMENTS[name].steps(plan, out / name)]
    clock = Invocation(out / "invocations.json")
    run_steps(steps, out / "timings.json", after_each=clock.beat)
    tables = {name: EXPERIMENTS[name].table(plan, out / name) for name in chosen}
    clock.beat(finished=True)
    inputs = sorted(
        {path for path in out.rglob("data/*.jsonl")}
        | {
            ROOT / "data" / "alignment" / "refusals.jsonl",
            ROOT / "examples" / "collapse" / "harmful.jsonl",
            ROOT / "bench" / "data" / "benign-heldout.jsonl",
            ROOT / "examples" / "collapse" / "adapter" / "adapter_model.safetensors",
        }
    )
    path = report.write(out, provenance(plan, inputs), tables)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
