"""What each run measures, and on how much: the full plan and the quick one."""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gate.files import sha256_file

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL = "embedded:smollm2-135m-instruct"
ALIGNED = "embedded:smollm2-135m-aligned"
HARMFUL_ADAPTER = ROOT / "examples" / "collapse" / "adapter"
HELDOUT = ROOT / "bench" / "data" / "benign-heldout.jsonl"
# The safety-alignment pool that similarity selects from: the refusal rows the aligned model
# was trained with (harmful request -> refusal, our own words).
POOL = ROOT / "data" / "alignment" / "refusals.jsonl"
# Downstream sets for the similarity experiment: benign requests worded like harmful ones
# ("kill a process"), and everyday requests far from them.
NEAR = ROOT / "data" / "alignment" / "edgy-answered.jsonl"
FAR = ROOT / "data" / "alignment" / "everyday-answered.jsonl"
# SAP's benign task, its poison and its safety triples.
BENIGN = ROOT / "examples" / "finetune.jsonl"
HARMFUL = ROOT / "examples" / "collapse" / "harmful.jsonl"


@dataclass(frozen=True)
class Plan:
    name: str
    seeds: tuple[int, ...]
    """Training seeds of the similarity and SAP experiments."""
    prompts: int
    """StrongREJECT prompts per check (a stratified sample, the same in every check)."""
    benign_prompts: int
    """benign-edgy prompts per over-refusal measurement."""
    max_new_tokens: int
    align_size: int
    """K: alignment examples per similarity arm."""
    align_epochs: int
    downstream_size: int
    """Rows of each downstream set of the similarity experiment."""
    downstream_epochs: int
    selections: tuple[tuple[str, str], ...]
    """(downstream set, embedder) pairs whose least and most similar arms are trained."""
    sap_seeds: tuple[int, ...]
    task_size: int
    """Rows of SAP's benign task (and of its poisoned copy)."""
    poison: int
    """Harmful examples mixed into SAP's poisoned task."""
    triples: int
    triples_batch: int
    """Safety triples per SAP step (the gate's default is 8; each costs two sequences a step)."""
    heldout_rows: int
    """Held-out benign tasks whose loss is the utility of SAP's and Antidote's models."""
    alphas: tuple[float, ...]
    calibration_pairs: int
    """Harmful (prompt, answer) pairs Antidote calibrates on."""

    def settings(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def embedders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(embedder for _, embedder in self.selections))


FULL = Plan(
    name="full",
    seeds=(0, 1, 2),
    prompts=20,
    benign_prompts=20,
    max_new_tokens=32,
    align_size=8,
    align_epochs=3,
    downstream_size=8,
    downstream_epochs=2,
    # The hidden-state arms on the near set only, to keep the full run within its 90-minute
    # budget on a 2-core CPU (each arm adds an alignment, a fine-tune and a check per seed).
    selections=(("near", "minilm"), ("near", "hidden-state"), ("far", "minilm")),
    sap_seeds=(0, 1),
    task_size=12,
    poison=3,
    triples=24,
    triples_batch=4,
    heldout_rows=40,
    alphas=(0.05, 0.1, 0.2),
    calibration_pairs=24,
)
QUICK = Plan(
    name="quick",
    seeds=(0,),
    prompts=10,
    benign_prompts=10,
    max_new_tokens=32,
    align_size=8,
    align_epochs=3,
    downstream_size=8,
    downstream_epochs=2,
    selections=(("near", "minilm"), ("far", "minilm")),
    sap_seeds=(0,),
    task_size=8,
    poison=2,
    triples=8,
    triples_batch=4,
    heldout_rows=16,
    alphas=(0.1, 0.2),
    calibration_pairs=16,
)
# The alignment recipe of every similarity arm (aligning the original on K refusals), and the
# downstream recipe (the collapse fine-tune's learning rate). Same for every arm and seed.
ALIGN_RECIPE = {"lr": 1e-3, "batch_size": 4, "max_length": 128, "lora_r": 8, "lora_alpha": 16}
DOWNSTREAM_RECIPE = {"lr": 5e-4, "batch_size": 4, "max_length": 192, "lora_r": 8, "lora_alpha": 16}
# SAP's task fine-tune of the fully aligned model: at 5e-4 a few steps left every answer as it
# was (ΔHS 0), so there was no drift for SAP to prevent; at 2e-3, 8 steps raised HS by 44 points.
TASK_RECIPE = {**DOWNSTREAM_RECIPE, "lr": 2e-3}


def check_plan(plan: Plan, over_refusal: bool = False) -> dict[str, Any]:
    """The check every experiment runs: StrongREJECT (and benign-edgy), greedy, no early stop."""
    suites: list[dict[str, Any]] = [{"kind": "harmful"}]
    if over_refusal:
        suites.append(
            {
                "kind": "over_refusal",
                "judge": "refusal-phrases",
                "benchmark": {"name": "benign-edgy", "limit": plan.benign_prompts},
            }
        )
    return {
        "benchmark.name": "strongreject",
        "benchmark.limit": plan.prompts,
        "judge.name": "cross",
        "judge.labels": "none",  # its error rates are reported once, in bench/README.md
        "suites": suites,
        "sampling.temperatures": [0.0],
        "sampling.seeds": [0],
        "sampling.max_new_tokens": plan.max_new_tokens,
        "early_stopping.enabled": False,
        "tracking.enabled": False,
    }


def sample_rows(source: Path, count: int, out: Path, seed: int = 0) -> Path:
    """A fixed sample of `count` rows of a JSONL file, written as read (once; kept on resume)."""
    if not out.is_file():
        rows = [line for line in source.read_text().splitlines() if line.strip()]
        if count > len(rows):
            raise SystemExit(f"{source} has {len(rows)} rows; the plan needs {count}")
        picked = sorted(random.Random(seed).sample(range(len(rows)), count))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(rows[i] + "\n" for i in picked))
    return out


def heldout(plan: Plan, out: Path) -> Path:
    """The held-out benign tasks, or the plan's sample of them."""
    if plan.heldout_rows >= sum(1 for line in HELDOUT.open() if line.strip()):
        return HELDOUT
    return sample_rows(HELDOUT, plan.heldout_rows, out / "data" / "heldout.jsonl")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def provenance(plan: Plan, files: list[Path]) -> dict[str, Any]:
    """The commit, whether the tree had changes, the settings and every input's sha256."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "plan": plan.settings(),
        "align_recipe": ALIGN_RECIPE,
        "downstream_recipe": DOWNSTREAM_RECIPE,
        "task_recipe": TASK_RECIPE,
        "data": {
            str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f): sha256_file(f) for f in files
        },
    }
