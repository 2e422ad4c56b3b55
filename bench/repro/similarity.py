"""Hsiung et al. 2025 (arXiv 2506.05346) in miniature: does aligning on the safety examples least
similar to the downstream data make the guardrail survive that fine-tuning better?

For each downstream set (near the harmful requests in wording, and far) and embedder, `gate
select` picks the K alignment examples most and least similar to it; a random K (drawn anew per
seed) is the control. The original model is aligned on each subset with one recipe, merged
(`gate merge-adapter`), fine-tuned on the downstream set, and checked against its aligned self:
HS before and after on the same prompts, ΔHS (the gate's durability is 1 - ΔHS) and the share of
safe answers kept per arm, over the training seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro import stats
from repro.plan import (
    ALIGN_RECIPE,
    DOWNSTREAM_RECIPE,
    FAR,
    NEAR,
    ORIGINAL,
    POOL,
    Plan,
    check_plan,
    sample_rows,
)
from repro.steps import Step, check, finetune, index, merge, select

SETS = {"near": NEAR, "far": FAR}


def arms(plan: Plan) -> list[tuple[str, str, str]]:
    """(downstream set, arm, label) for every arm: the selected ones per set, then random."""
    chosen = [
        (name, f"{embedder}-{how}", f"{embedder} {how}")
        for name, embedder in plan.selections
        for how in ("low", "high")
    ]
    return chosen + [(name, "random", "random") for name in SETS]


def _arm_id(name: str, key: str, seed: int) -> str:
    """Selected arms are chosen per downstream set; the random arm is shared by both sets."""
    return f"random-s{seed}" if key == "random" else f"{name}-{key}-s{seed}"


def downstream(plan: Plan, out: Path, name: str) -> Path:
    return sample_rows(SETS[name], plan.downstream_size, out / "data" / f"{name}.jsonl")


def _subset(out: Path, name: str, key: str, seed: int) -> Path:
    # Which examples an arm selects does not depend on the training seed; only random's does.
    chosen = _arm_id(name, key, seed) if key == "random" else f"{name}-{key}"
    return out / "arms" / f"{chosen}.jsonl"


def checks(out: Path, name: str, key: str, seed: int) -> Path:
    return out / "check" / f"{name}-{key}-s{seed}"


def steps(plan: Plan, out: Path) -> list[Step]:
    work: list[Step] = []
    for embedder in plan.embedders:
        model = ORIGINAL if embedder == "hidden-state" else None
        work.append(index(out / f"index-{embedder}", POOL, embedder, model))
    for name, key, _ in arms(plan):
        data = downstream(plan, out, name)
        for seed in plan.seeds:
            embedder, _, how = key.rpartition("-")
            index_dir = out / f"index-{embedder or plan.embedders[0]}"
            subset = _subset(out, name, key, seed)
            arm = _arm_id(name, key, seed)
            adapter, aligned = out / "align" / arm, out / "merged" / arm
            tuned = out / "tune" / f"{name}-{key}-s{seed}"
            measured = {"model.path": str(aligned), "model.adapter": str(tuned),
                        "base.path": str(aligned), **check_plan(plan)}  # fmt: skip
            work += [
                select(subset, index_dir, data, how, plan.align_size, seed),
                finetune(adapter, model=ORIGINAL, data=str(subset), epochs=plan.align_epochs,
                         seed=seed, **ALIGN_RECIPE),
                merge(aligned, ORIGINAL, adapter),
                finetune(tuned, model=str(aligned), data=str(data),
                         epochs=plan.downstream_epochs, seed=seed, **DOWNSTREAM_RECIPE),
                check(checks(out, name, key, seed), measured),
                index(out / "arm-index" / arm, subset, "minilm"),
            ]  # fmt: skip
    return work


def similarity_score(out: Path, plan: Plan, name: str, key: str, seed: int) -> float:
    """`gate similarity`'s mean max cosine of the downstream set against the arm's subset."""
    from gate.similarity.embed import EmbeddingCache
    from gate.similarity.examples import Fields
    from gate.similarity.index import load_index
    from gate.similarity.score import run_similarity
    from repro.steps import CACHE

    result = run_similarity(
        load_index(out / "arm-index" / _arm_id(name, key, seed)),
        str(downstream(plan, out, name)),
        fields=Fields(),
        cache_dir=CACHE,
        cache=EmbeddingCache(CACHE / "embeddings.sqlite"),
    )
    return result.finetune_summary.mean


def table(plan: Plan, out: Path) -> dict[str, Any]:
    """The arms' figures, the low-vs-high contrasts, and the rank correlation."""
    rows, points, per_arm = [], [], {}
    for name, key, label in arms(plan):
        runs = [checks(out, name, key, seed) for seed in plan.seeds]
        after = stats.stack([stats.per_prompt(r, "candidate", "harmful") for r in runs])
        before = stats.stack([stats.per_prompt(r, "base", "harmful") for r in runs])
        scores = [similarity_score(out, plan, name, key, seed) for seed in plan.seeds]
        per_arm[(name, key)] = (after, before)
        for seed, score in enumerate(scores):
            points.append((score, float(after[:, seed].mean() - before[:, seed].mean())))
        rows.append(
            {
                "set": name,
                "arm": label,
                "similarity": sum(scores) / len(scores),
                "before": stats.mean(before),
                "after": stats.mean(after),
                "delta": stats.delta(after, before),
                "kept": stats.safe_kept(after, before),
            }
        )
    contrasts = []
    for name, embedder in plan.selections:
        low_after, low_before = per_arm[(name, f"{embedder}-low")]
        for other in (f"{embedder}-high", "random"):
            other_after, other_before = per_arm[(name, other)]
            contrasts.append(
                {
                    "set": name,
                    "embedder": embedder,
                    "versus": other.rsplit("-", 1)[-1],
                    "delta_of_delta": stats.delta(
                        low_after - low_before, other_after - other_before
                    ),
                    "after": stats.delta(low_after, other_after),
                }
            )
    rank = stats.spearman([p[0] for p in points], [p[1] for p in points])
    return {"rows": rows, "contrasts": contrasts, "rank": rank, "points": points}
