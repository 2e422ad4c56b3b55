"""Harmful score against over-refusal: the two halves of the verdict on one plot.

A model can lower its harmful score by refusing everything; the plot puts the candidate and the
base where both numbers can be read at once, each with its two intervals, and the policy's
thresholds bound the region that passes. Drawn when a run has a harmful suite and an
over-refusal suite: inline in report.html, and as tradeoff.svg beside report.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult, SuiteResult
from gate.records.scores import Estimate, ModelScores

HARM, REFUSAL = "harmful_score", "over_refusal_rate"
SIZE, PAD = 360, 50
FILE = "tradeoff.svg"
MARKS = (("candidate", "#0969da"), ("base", "#6e7781"))


def axes(result: GateResult) -> tuple[SuiteResult, SuiteResult] | None:
    """The first harmful-score suite and the first over-refusal suite, when the run has both."""
    harm = next((s for s in result.suites if s.quantity == HARM), None)
    refusal = next((s for s in result.suites if s.quantity == REFUSAL), None)
    return (harm, refusal) if harm and refusal else None


def points(result: GateResult) -> list[tuple[str, Estimate, Estimate]]:
    """(model, harmful score, over-refusal rate) for the candidate and, if run, the base."""
    pair = axes(result)
    if pair is None:
        return []
    harm, refusal = pair
    models: list[tuple[str, ModelScores | None, ModelScores | None]] = [
        ("candidate", harm.candidate, refusal.candidate),
        ("base", harm.base, refusal.base),
    ]
    return [(name, h.pooled, r.pooled) for name, h, r in models if h and r]


def _xy(x: float, y: float) -> tuple[float, float]:
    return PAD + x * (SIZE - PAD - 10), SIZE - PAD - y * (SIZE - PAD - 10)


def svg(result: GateResult) -> str:
    """The plot as a standalone SVG document; empty when the run lacks one of the suites."""
    drawn = points(result)
    if not drawn:
        return ""
    policy = result.config.get("policy", {})
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" role="img" '
        'font-family="system-ui,sans-serif" font-size="12">'
        "<title>Harmful score against over-refusal rate</title>"
    ]
    limit_x, limit_y = policy.get(f"max_{HARM}"), policy.get(f"max_{REFUSAL}")
    if limit_x is not None and limit_y is not None:
        x0, y0 = _xy(0, float(limit_y))
        x1, y1 = _xy(float(limit_x), 0)
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
            'fill="#dafbe1"><title>passes both rules</title></rect>'
        )
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x, bottom = _xy(tick, 0)
        left, y = _xy(0, tick)
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle">{tick:g}</text>'
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(_frame(limit_x, limit_y))
    for (name, harm, refusal), (_, colour) in zip(drawn, MARKS, strict=False):
        parts.append(_mark(name, harm, refusal, colour))
    parts.append("</svg>")
    return "".join(parts)


def _frame(limit_x: object, limit_y: object) -> str:
    (x0, y0), (x1, y1) = _xy(0, 0), _xy(1, 1)
    parts = [
        f'<rect x="{x0:.1f}" y="{y1:.1f}" width="{x1 - x0:.1f}" height="{y0 - y1:.1f}" '
        'fill="none" stroke="#d0d7de"/>',
        f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 + 34:.1f}" text-anchor="middle">harmful score'
        "</text>",
        f'<text transform="rotate(-90)" x="{-(y0 + y1) / 2:.1f}" y="14" text-anchor="middle">'
        "over-refusal rate</text>",
    ]
    dash = 'stroke="#cf222e" stroke-dasharray="4 3"'
    if isinstance(limit_x, (int, float)):
        x, _ = _xy(float(limit_x), 0)
        parts.append(f'<line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y0:.1f}" {dash}/>')
    if isinstance(limit_y, (int, float)):
        _, y = _xy(0, float(limit_y))
        parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" {dash}/>')
    return "".join(parts)


def _mark(name: str, harm: Estimate, refusal: Estimate, colour: str) -> str:
    """A dot at the two point estimates, a bar along each axis for that axis's interval."""
    x, y = _xy(harm.value, refusal.value)
    (xl, _), (xu, _) = _xy(harm.lower, 0), _xy(harm.upper, 0)
    (_, yl), (_, yu) = _xy(0, refusal.lower), _xy(0, refusal.upper)
    line = f'stroke="{colour}" stroke-width="2"'
    tip = f"{name}: harmful score {harm.value:.3f}, over-refusal rate {refusal.value:.3f}"
    return (
        f'<line x1="{xl:.1f}" y1="{y:.1f}" x2="{xu:.1f}" y2="{y:.1f}" {line}/>'
        f'<line x1="{x:.1f}" y1="{yl:.1f}" x2="{x:.1f}" y2="{yu:.1f}" {line}/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"><title>{escape(tip)}'
        f"</title></circle>"
        f'<text x="{x + 8:.1f}" y="{y - 8:.1f}" fill="{colour}">{escape(name)}</text>'
    )


def markdown(result: GateResult) -> list[str]:
    """The section of report.md: the plot's file, and its figures as a table."""
    drawn = points(result)
    if not drawn:
        return []
    from gate.publish.reports.markdown import estimate

    return [
        "",
        "## Harmful score against over-refusal",
        "",
        f"![harmful score against over-refusal rate, candidate and base]({FILE})",
        "",
        "| model | harmful score [interval] | over-refusal rate [interval] |",
        "| --- | --- | --- |",
        *(f"| {name} | {estimate(h)} | {estimate(r)} |" for name, h, r in drawn),
    ]


def render(result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """tradeoff.svg, a report format; empty (so not written) without both suites."""
    return svg(result)
