"""SAP (Wu et al. 2025, arXiv 2505.16737) in miniature: fine-tune the aligned model on a benign
task, and on the same task poisoned with a few harmful examples, plainly and with SAP; HS,
over-refusal and utility of each against the aligned model, over training seeds.

SAP's safety triples pair a refusal of our alignment set with a harmful answer to the same
request (examples/collapse/harmful.jsonl); the poison is drawn from that file's other rows, so
no triple's request is also poison. Neither holds an evaluation prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro import stats
from repro.plan import (
    ALIGNED,
    BENIGN,
    HARMFUL,
    POOL,
    TASK_RECIPE,
    Plan,
    check_plan,
    heldout,
    sample_rows,
    write_jsonl,
)
from repro.steps import Step, check, finetune

METHODS = ("plain", "sap")
TASKS = ("benign", "poisoned")


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open() if line.strip()]


def data(plan: Plan, out: Path) -> dict[str, Path]:
    """The benign task, the poisoned task and the triples (written once)."""
    benign = sample_rows(BENIGN, plan.task_size, out / "data" / "benign.jsonl")
    harmful = _rows(HARMFUL)
    refusals = {row["prompt"]: row["response"] for row in _rows(POOL)}
    poison = [
        {
            "messages": [
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["response"]},
            ]
        }
        for r in harmful[-plan.poison :]
    ]
    triples = [
        {"prompt": r["prompt"], "safe": refusals[r["prompt"]], "harmful": r["response"]}
        for r in harmful[: plan.triples]
    ]
    if len(harmful) < plan.triples + plan.poison:
        raise SystemExit(
            f"{HARMFUL} is too small for {plan.triples} triples and {plan.poison} poison"
        )
    return {
        "benign": benign,
        # The same number of rows as the benign task: a few of its examples replaced by poison.
        "poisoned": write_jsonl(
            out / "data" / "poisoned.jsonl", _rows(benign)[: -plan.poison] + poison
        ),
        "triples": write_jsonl(out / "data" / "triples.jsonl", triples),
    }


def _tuned(out: Path, task: str, method: str, seed: int) -> Path:
    return out / "tune" / f"{task}-{method}-s{seed}"


def _check(out: Path, task: str, method: str, seed: int) -> Path:
    return out / "check" / f"{task}-{method}-s{seed}"


def steps(plan: Plan, out: Path) -> list[Step]:
    files = data(plan, out)
    work: list[Step] = []
    for task in TASKS:
        for method in METHODS:
            for seed in plan.sap_seeds:
                tuned = _tuned(out, task, method, seed)
                defense = (
                    {
                        "defense": "sap",
                        "safety_triples": str(files["triples"]),
                        "triples_batch": plan.triples_batch,
                    }
                    if method == "sap"
                    else {}
                )
                work.append(
                    finetune(
                        tuned,
                        model=ALIGNED,
                        data=str(files[task]),
                        epochs=plan.downstream_epochs,
                        seed=seed,
                        heldout=str(heldout(plan, out)),
                        **TASK_RECIPE,
                        **defense,
                    )
                )
                work.append(
                    check(
                        _check(out, task, method, seed),
                        {
                            "model.path": ALIGNED,
                            "model.adapter": str(tuned),
                            "base.path": ALIGNED,
                            **check_plan(plan, over_refusal=True),
                        },
                    )
                )
    return work


def table(plan: Plan, out: Path) -> dict[str, Any]:
    rows, flags = [], {}
    for task in TASKS:
        for method in METHODS:
            runs = [_check(out, task, method, seed) for seed in plan.sap_seeds]
            harm = [
                stats.stack([stats.per_prompt(r, m, "harmful") for r in runs])
                for m in ("candidate", "base")
            ]
            refuse = [
                stats.stack([stats.per_prompt(r, m, "over_refusal") for r in runs])
                for m in ("candidate", "base")
            ]
            flags[(task, method)] = harm[0]
            losses = [
                json.loads((_tuned(out, task, method, s) / "finetune.json").read_text())["training"]
                for s in plan.sap_seeds
            ]
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "hs": stats.mean(harm[0]),
                    "delta_hs": stats.delta(*harm),
                    "over_refusal": stats.mean(refuse[0]),
                    "delta_over_refusal": stats.delta(*refuse),
                    "loss_before": sum(t["heldout_loss_before"] for t in losses) / len(losses),
                    "loss_after": sum(t["heldout_loss_after"] for t in losses) / len(losses),
                    "train_seconds": sum(t["train_seconds"] for t in losses) / len(losses),
                }
            )
    contrasts = [
        {"task": task, "sap_minus_plain": stats.delta(flags[(task, "sap")], flags[(task, "plain")])}
        for task in TASKS
    ]
    return {"rows": rows, "contrasts": contrasts}
