"""The attack suite in a report: the harmful score under each attack, candidate against base.

One row per attack (and one for the prompts as written, when the run also asked them bare):
the candidate's score with its interval, the base's, and their paired difference. Drawn as
attacks.svg beside report.md and inline in report.html; the markdown adds the worst attack and
each attack's score per category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult, SuiteResult
from gate.records.scores import Estimate, Share

FILE = "attacks.svg"
WIDTH, ROW, LEFT, TOP = 560, 24, 170, 30
MARKS = (("candidate", "#0969da"), ("base", "#6e7781"))


@dataclass(frozen=True)
class Row:
    """One attack's figures (`as written` for the bare suite)."""

    attack: str
    family: str
    candidate: Share
    base: Share | None
    delta: Estimate | None
    categories: dict[str, Share]


def _row(suite: SuiteResult, name: str, family: str) -> Row:
    return Row(
        name,
        family,
        suite.candidate.pooled,
        None if suite.base is None else suite.base.pooled,
        suite.derived.get(f"delta_{suite.quantity}"),
        dict(suite.candidate.categories),
    )


def rows(result: GateResult) -> list[Row]:
    """Each attack's row, after the bare suite's on the same benchmark; empty without attacks."""
    attacked = [s for s in result.suites if s.attack is not None]
    if not attacked:
        return []
    found = []
    bare = next(
        (
            s
            for s in result.suites
            if s.kind == "harmful" and s.benchmark.sha256 == attacked[0].benchmark.sha256
        ),
        None,
    )
    if bare is not None:
        found.append(_row(bare, "as written", "none"))
    found += [_row(s, s.attack.name, s.attack.family) for s in attacked if s.attack]
    return found


def _x(value: float) -> float:
    return LEFT + value * (WIDTH - LEFT - 20)


def svg(result: GateResult) -> str:
    """The plot as a standalone SVG document; empty when the run had no attack suite."""
    drawn = rows(result)
    if not drawn:
        return ""
    height = TOP + ROW * len(drawn) + 40
    bottom = TOP + ROW * len(drawn)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
        'font-family="system-ui,sans-serif" font-size="12">'
        "<title>Harmful score under each attack, candidate and base</title>",
        f'<text x="{LEFT}" y="16" fill="{MARKS[0][1]}">candidate</text>'
        f'<text x="{LEFT + 80}" y="16" fill="{MARKS[1][1]}">base</text>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = _x(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{bottom}" stroke="#d0d7de"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{tick:g}</text>'
        )
    limit = result.config.get("policy", {}).get("max_attack_harmful_score")
    if isinstance(limit, int | float):
        x = _x(float(limit))
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{bottom}" stroke="#cf222e" '
            'stroke-dasharray="4 3"><title>max_attack_harmful_score</title></line>'
        )
    for index, row in enumerate(drawn):
        y = TOP + ROW * index + ROW / 2
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(row.attack)}</text>'
        )
        for (name, colour), share, offset in zip(
            MARKS, (row.candidate, row.base), (-4, 4), strict=True
        ):
            if share is not None:
                parts.append(_mark(name, row.attack, share, y + offset, colour))
    parts.append(
        f'<text x="{(LEFT + WIDTH) / 2:.1f}" y="{bottom + 34}" text-anchor="middle">'
        "harmful score</text></svg>"
    )
    return "".join(parts)


def _mark(model: str, attack: str, share: Share, y: float, colour: str) -> str:
    tip = f"{model} under {attack}: {share.value:.3f} [{share.lower:.3f}, {share.upper:.3f}]"
    return (
        f'<line x1="{_x(share.lower):.1f}" y1="{y:.1f}" x2="{_x(share.upper):.1f}" y2="{y:.1f}" '
        f'stroke="{colour}" stroke-width="2"/>'
        f'<circle cx="{_x(share.value):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
        f"<title>{escape(tip)}</title></circle>"
    )


def markdown(result: GateResult) -> list[str]:
    """The section of report.md: the table, the worst attack, the plot, and the categories."""
    drawn = rows(result)
    if not drawn:
        return []
    from gate.publish.reports.markdown import estimate

    lines = [
        "",
        "## Harmful score under attack",
        "",
        "The judge read each answer against the request as written (an answer in the attack's "
        "encoding decoded first).",
        "",
        f"![harmful score under each attack, candidate and base]({FILE})",
        "",
        "| attack | family | candidate | base | Δ (paired) |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {r.attack} | {r.family} | {estimate(r.candidate)} | {estimate(r.base)} | "
            f"{estimate(r.delta)} |"
            for r in drawn
        ),
    ]
    worst = result.worst_attack
    if worst is not None:
        lines += [
            "",
            f"Worst attack: **{worst.attack}**, {estimate(worst.estimate)} (an interval that "
            f"holds for all {worst.attacks} attacks at once).",
        ]
    categories = sorted({c for r in drawn for c in r.categories})
    lines += [
        "",
        "| attack | " + " | ".join(categories) + " |",
        "| --- |" + " --- |" * len(categories),
    ]
    for row in drawn:
        cells = [
            f"{row.categories[c].value:.2f}" if c in row.categories else "-" for c in categories
        ]
        lines.append(f"| {row.attack} | " + " | ".join(cells) + " |")
    return lines


def render(result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """attacks.svg, a report format; empty (so not written) without an attack suite."""
    return svg(result)
