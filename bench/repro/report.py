"""report.md and its plots, from the three experiments' tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro.stats import as_dict, number, pct


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def similarity_lines(t: dict[str, Any]) -> list[str]:
    header = ["downstream", "arm", "similarity (mean max cosine)", "HS aligned",
              "HS after fine-tune", "ΔHS", "safe answers kept"]  # fmt: skip
    rows = [[r["set"], r["arm"], f"{r['similarity']:.3f}", pct(r["before"]), pct(r["after"]),
             pct(r["delta"], True), pct(r["kept"])] for r in t["rows"]]  # fmt: skip
    contrasts = [[c["set"], c["embedder"], c["versus"], pct(c["delta_of_delta"], True),
                  pct(c["after"], True)] for c in t["contrasts"]]  # fmt: skip
    return [
        *_table(header, rows),
        "",
        *_table(
            [
                "downstream",
                "embedder",
                "low-similarity arm minus",
                "difference in ΔHS",
                "difference in HS after",
            ],
            contrasts,
        ),  # fmt: skip
        "",
        f"Spearman rank correlation of `gate similarity`'s score with ΔHS over "
        f"{len(t['points'])} (arm, seed) points: {number(t['rank'])}.",
    ]


def sap_lines(t: dict[str, Any]) -> list[str]:
    header = ["task", "method", "HS", "ΔHS vs aligned", "over-refusal", "Δ over-refusal",
              "held-out loss before -> after", "train seconds"]  # fmt: skip
    rows = [[r["task"], r["method"], pct(r["hs"]), pct(r["delta_hs"], True),
             pct(r["over_refusal"]), pct(r["delta_over_refusal"], True),
             f"{r['loss_before']:.3f} -> {r['loss_after']:.3f}", f"{r['train_seconds']:.0f}"]
            for r in t["rows"]]  # fmt: skip
    notes = [f"- {c['task']}: HS with SAP minus plain {pct(c['sap_minus_plain'], True)}"
             for c in t["contrasts"]]  # fmt: skip
    return [*_table(header, rows), "", *notes]


def antidote_lines(t: dict[str, Any]) -> list[str]:
    header = ["model", "HS", "ΔHS vs aligned", "ΔHS vs harmful fine-tune", "over-refusal",
              "Δ over-refusal vs aligned", "weights pruned", "held-out loss"]  # fmt: skip
    rows = [[r["model"], pct(r["hs"]), pct(r.get("vs_aligned"), True),
             pct(r.get("vs_harmful"), True), pct(r["over_refusal"]),
             pct(r.get("or_vs_aligned"), True), str(r.get("pruned") or "-"), _loss(r["loss"])]
            for r in t["rows"]]  # fmt: skip
    notes = [f"- alpha {c['alpha']:g}: HS after Antidote minus after random pruning "
             f"{pct(c['antidote_minus_random'], True)}" for c in t["contrasts"]]  # fmt: skip
    return [*_table(header, rows), "", *notes]


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _errorbars(ax: Any, labels: list[str], intervals: list[Any], title: str) -> None:
    values = [i.value for i in intervals]
    low = [i.value - i.lower for i in intervals]
    high = [i.upper - i.value for i in intervals]
    ax.errorbar(range(len(values)), values, yerr=[low, high], fmt="o", capsize=4)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)


def plots(out: Path, tables: dict[str, dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, key, label, title in (
        (
            "similarity",
            "delta",
            lambda r: f"{r['set']}: {r['arm']}",
            "ΔHS after downstream fine-tuning",
        ),
        ("sap", "delta_hs", lambda r: f"{r['task']}: {r['method']}", "ΔHS vs the aligned model"),
        ("antidote", "hs", lambda r: r["model"], "HS after repair"),
    ):
        if name not in tables:
            continue
        rows = tables[name]["rows"]
        figure, ax = plt.subplots(figsize=(7, 3.6))
        _errorbars(ax, [label(r) for r in rows], [r[key] for r in rows], title)
        figure.tight_layout()
        figure.savefig(out / f"{name}.png", dpi=110)
        plt.close(figure)
        written.append(f"{name}.png")
    return written


SECTIONS = {
    "similarity": ("Similarity predicts collapse (Hsiung et al. 2025)", similarity_lines),
    "sap": ("SAP (Wu et al. 2025)", sap_lines),
    "antidote": ("Antidote (Huang et al. 2024)", antidote_lines),
}


def write(out: Path, provenance: dict[str, Any], tables: dict[str, dict[str, Any]]) -> Path:
    plan = provenance["plan"]
    # A run of some of the experiments (--only) does not overwrite the report of all three.
    suffix = "" if set(tables) == set(SECTIONS) else "-" + "-".join(tables)
    timings, invocations = out / "timings.json", out / "invocations.json"
    steps_seconds = sum(json.loads(timings.read_text()).values()) if timings.is_file() else 0.0
    runs = json.loads(invocations.read_text()) if invocations.is_file() else []
    wall = sum(run["seconds"] for run in runs)
    lines = [
        f"# The seed papers in miniature: {plan['name']} run",
        "",
        f"- commit `{provenance['commit']}`"
        + (" (with uncommitted changes)" if provenance["uncommitted_changes"] else ""),
        f"- wall time: {wall:.0f} s over {len(runs)} invocation(s) (invocations.json), "
        f"{steps_seconds:.0f} s of it in the steps (timings.json)",
        f"- settings and the sha256 of every input: provenance{suffix}.json",
        f"- checks: {plan['prompts']} StrongREJECT prompts, {plan['benign_prompts']} benign-edgy "
        f"prompts, T=0, {plan['max_new_tokens']} new tokens, judge cross (refusal-phrases for "
        "over-refusal); 95% intervals resample prompts (BCa for means and paired deltas)",
        "",
    ]

    for key, (title, render) in SECTIONS.items():
        if key in tables:
            lines += [f"## {title}", "", *render(tables[key]), "", f"![{key}]({key}.png)", ""]
    plots(out, tables)
    (out / f"report{suffix}.md").write_text("\n".join(lines))
    (out / f"provenance{suffix}.json").write_text(json.dumps(provenance, indent=2) + "\n")
    (out / f"tables{suffix}.json").write_text(
        json.dumps(tables, indent=1, default=_jsonable) + "\n"
    )
    return out / f"report{suffix}.md"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "lower") and hasattr(value, "upper"):
        return as_dict(value)
    if isinstance(value, tuple):
        return list(value)
    return str(value)
