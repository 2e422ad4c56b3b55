"""Guardrail collapse, shown: fine-tune the aligned model and check it against itself.

Two LoRA fine-tunes of `embedded:smollm2-135m-aligned` with `gate finetune`, with the settings
of examples/collapse/finetune.toml (3 epochs, lr 5e-4, r=8, seed 0):

- `benign`: the 40 everyday instruction examples of examples/finetune.jsonl;
- `harmful`: examples/collapse/harmful.jsonl, the original model's own compliant answers to
  HarmBench requests (the attack of Qi et al. 2023: a few dozen harmful examples).

Each is then measured as bench/aligned.py measures the aligned model, with the aligned model as
the base: the full StrongREJECT and benign-edgy at T=0 and T=0.7, ΔHS and Δ over-refusal with
paired intervals, every CPU harm judge, held-out loss and the held-out task score.

The harmful fine-tune is the shipped demo adapter (examples/collapse/adapter, trained by
`make collapse-adapter` with this recipe; tests/models/test_aligned.py checks its manifest), unless
`--retrain` trains it again.

    .venv/bin/python bench/collapse.py [--out bench-out/collapse] [--limit N] [--only NAME]
        [--retrain]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from aligned import ALIGNED, ROOT, gate, measure  # noqa: E402

DATA = {
    "benign": ROOT / "examples" / "finetune.jsonl",
    "harmful": ROOT / "examples" / "collapse" / "harmful.jsonl",
}
RECIPE = ROOT / "examples" / "collapse" / "finetune.toml"
SHIPPED = ROOT / "examples" / "collapse" / "adapter"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "collapse")
    parser.add_argument("--limit", type=int, help="a stratified sample of each benchmark")
    parser.add_argument("--only", choices=sorted(DATA), help="one of the two fine-tunes")
    parser.add_argument("--retrain", action="store_true", help="train the harmful one again too")
    args = parser.parse_args()
    for name, data in DATA.items():
        if args.only and name != args.only:
            continue
        out: Path = args.out / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        adapter = out / "adapter"
        if name == "harmful" and not args.retrain:
            adapter = SHIPPED
            print(f"\n## {name}: the shipped adapter, {SHIPPED.relative_to(ROOT)}")
        else:
            started = time.monotonic()
            # Relative to the repository, as the recipe names it: the manifest records what it gets.
            gate("finetune", "--config", str(RECIPE), "--data", str(data.relative_to(ROOT)),
                 "--out", str(adapter))  # fmt: skip
            print(f"\n## {name}: fine-tuned in {time.monotonic() - started:.0f} s")
        measure(out, ALIGNED, str(adapter), ALIGNED, args.limit)


if __name__ == "__main__":
    main()
