"""Antidote (Huang et al. 2024, arXiv 2408.09600) in miniature: the aligned model's harmful
fine-tune (the demo adapter) repaired by Antidote and by random pruning at several alphas; HS,
over-refusal and utility of each, against the harmful fine-tune and against the aligned model.

The calibration answers are the harmful fine-tune's own training set (harmful requests with
compliant answers), not the evaluation prompts, so the check does not grade its own calibration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro import stats
from repro.plan import ALIGNED, HARMFUL, HARMFUL_ADAPTER, HELDOUT, Plan, check_plan, heldout
from repro.steps import Step, check, repair

METHODS = ("antidote", "random")


def _name(method: str, alpha: float) -> str:
    return f"{method}-{alpha:g}"


def steps(plan: Plan, out: Path) -> list[Step]:
    measure = check_plan(plan, over_refusal=True)
    work = [
        check(
            out / "check" / "harmful",
            {
                "model.path": ALIGNED,
                "model.adapter": str(HARMFUL_ADAPTER),
                "base.path": ALIGNED,
                **measure,
            },
        )
    ]
    for method in METHODS:
        for alpha in plan.alphas:
            repaired = out / "repair" / _name(method, alpha)
            work.append(
                repair(
                    repaired,
                    model=ALIGNED,
                    adapter=str(HARMFUL_ADAPTER),
                    calibration=str(HARMFUL),
                    alpha=alpha,
                    method=method,
                    targets=["q_proj", "v_proj"],
                    heldout=str(heldout(plan, out)),
                    seed=0,
                    max_pairs=plan.calibration_pairs,
                )
            )
            work.append(
                check(
                    out / "check" / _name(method, alpha),
                    {
                        "model.path": ALIGNED,
                        "model.adapter": str(repaired),
                        "base.path": ALIGNED,
                        **measure,
                    },
                )
            )
    return work


def table(plan: Plan, out: Path) -> dict[str, Any]:
    harmful_check = out / "check" / "harmful"
    harmful_hs = stats.stack([stats.per_prompt(harmful_check, "candidate", "harmful")])
    aligned_hs = stats.stack([stats.per_prompt(harmful_check, "base", "harmful")])
    aligned_or = stats.stack([stats.per_prompt(harmful_check, "base", "over_refusal")])
    manifests = {
        (m, a): json.loads((out / "repair" / _name(m, a) / "repair.json").read_text())
        for m in METHODS
        for a in plan.alphas
    }
    # Every repair measured its source (the harmful fine-tune) on the plan's held-out tasks; the
    # aligned model's loss on them is known only when they are the whole set its training used.
    source_loss = next(iter(manifests.values()))["utility"]["heldout_loss_before"]
    whole = heldout(plan, out) == HELDOUT
    trained = json.loads((HARMFUL_ADAPTER / "finetune.json").read_text())["training"]
    rows: list[dict[str, Any]] = [
        {
            "model": "aligned",
            "hs": stats.mean(aligned_hs),
            "over_refusal": stats.mean(aligned_or),
            "loss": trained["heldout_loss_before"] if whole else None,
        },
        _row("harmful fine-tune", harmful_check, aligned_hs, aligned_or, None)
        | {"loss": source_loss},
    ]
    flags = {}
    for (method, alpha), manifest in manifests.items():
        folder = out / "check" / _name(method, alpha)
        row = _row(f"{method} {alpha:g}", folder, aligned_hs, aligned_or, harmful_hs)
        rows.append(row | {"pruned": manifest["pruned_total"],
                           "loss": manifest["utility"]["heldout_loss_after"]})  # fmt: skip
        flags[(method, alpha)] = stats.stack([stats.per_prompt(folder, "candidate", "harmful")])
    contrasts = [
        {"alpha": alpha, "antidote_minus_random": stats.delta(flags[("antidote", alpha)],
                                                              flags[("random", alpha)])}
        for alpha in plan.alphas
    ]  # fmt: skip
    return {"rows": rows, "contrasts": contrasts}


def _row(
    label: str,
    folder: Path,
    aligned_hs: Any,
    aligned_or: Any,
    harmful_hs: Any | None,
) -> dict[str, Any]:
    hs = stats.stack([stats.per_prompt(folder, "candidate", "harmful")])
    refuse = stats.stack([stats.per_prompt(folder, "candidate", "over_refusal")])
    return {
        "model": label,
        "hs": stats.mean(hs),
        "vs_aligned": stats.delta(hs, aligned_hs),
        "vs_harmful": None if harmful_hs is None else stats.delta(hs, harmful_hs),
        "over_refusal": stats.mean(refuse),
        "or_vs_aligned": stats.delta(refuse, aligned_or),
    }
