"""A single-file HTML report with inline SVG plots: no scripts, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from gate.publish.reports import attacks, tradeoff
from gate.publish.reports.markdown import cut, estimate
from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult, SuiteResult
from gate.records.scores import Estimate

WIDTH, ROW, LEFT = 640, 26, 230
COLOURS = {"PASS": "#1a7f37", "BLOCK": "#cf222e", "ERROR": "#9a6700"}
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:760px;color:#1f2328}
.banner{padding:.8rem 1.2rem;border-radius:8px;color:#fff;font-size:1.4rem;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
.fail{color:#cf222e;font-weight:600} .muted{color:#59636e;font-size:.9rem}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
"""


def _x(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return LEFT + (value - low) / (high - low) * (WIDTH - LEFT - 20)


def interval_plot(rows: Sequence[tuple[str, Estimate]], threshold: float | None) -> str:
    """Dots with interval bars on a 0..1 axis, one row per label, and the threshold line."""
    height = ROW * len(rows) + 30
    parts = [f'<svg width="{WIDTH}" height="{height}" role="img">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = _x(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#eaeef2"/>'
            f'<text x="{x:.1f}" y="{height - 5}" text-anchor="middle">{tick:g}</text>'
        )
    if threshold is not None:
        x = _x(threshold)
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" '
            f'stroke="#cf222e" stroke-dasharray="4 3"/>'
        )
    for index, (label, value) in enumerate(rows):
        y = ROW * index + ROW / 2
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
            f'<line x1="{_x(value.lower):.1f}" y1="{y:.1f}" x2="{_x(value.upper):.1f}" '
            f'y2="{y:.1f}" stroke="#0969da" stroke-width="3"/>'
            f'<circle cx="{_x(value.value):.1f}" cy="{y:.1f}" r="5" fill="#0969da"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_plot(counts: Sequence[int], threshold: float) -> str:
    """Bars of the similarity histogram over -1..1 (20 bins), with the threshold line."""
    height, base = 160, 130
    tallest = max(max(counts), 1)
    step = (WIDTH - 60) / len(counts)
    parts = [f'<svg width="{WIDTH}" height="{height}" role="img">']
    for index, count in enumerate(counts):
        bar = count / tallest * 110
        x = 40 + index * step
        parts.append(
            f'<rect x="{x:.1f}" y="{base - bar:.1f}" width="{step - 2:.1f}" '
            f'height="{bar:.1f}" fill="#8250df"><title>{count}</title></rect>'
        )
    for tick in (-1, -0.5, 0, 0.5, 1):
        x = 40 + (tick + 1) / 2 * (WIDTH - 60)
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{tick:g}</text>')
    x = 40 + (threshold + 1) / 2 * (WIDTH - 60)
    parts.append(
        f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{base}" stroke="#cf222e" '
        f'stroke-dasharray="4 3"/></svg>'
    )
    return "".join(parts)


def _suite_section(result: GateResult, suite: SuiteResult) -> list[str]:
    """A suite's figure by category, temperature and seed, each plotted with its interval."""
    scores = suite.candidate
    threshold = result.config["policy"].get(f"max_{suite.quantity}")
    seed_rows = [
        (f"seed {seed}", Estimate(value=value, lower=value, upper=value, method="point"))
        for seed, value in scores.seeds.per_seed.items()
    ]
    against = "; ".join(f"{escape(n)} {estimate(e)}" for n, e in suite.derived.items())
    return [
        f"<h2>{escape(suite.label.capitalize())} by category</h2><p>Pooled "
        f"{estimate(scores.pooled)} ({escape(scores.pooled.method)}) on "
        f"<code>{escape(suite.benchmark.name)}</code>, judge "
        f"<code>{escape(suite.judge.name)}</code>"
        + (f"; base {estimate(suite.base.pooled)}" if suite.base else "")
        + "; the dashed line is the policy threshold.</p>",
        interval_plot([("all", scores.pooled), *scores.categories.items()], threshold),
        "<h3>By temperature and seed</h3>",
        interval_plot([(f"T={t}", e) for t, e in scores.per_temperature.items()], threshold),
        interval_plot(seed_rows, threshold),
        f'<p class="muted">Across seeds: min {scores.seeds.minimum:.3f}, max '
        f"{scores.seeds.maximum:.3f}, std {scores.seeds.std:.3f}.</p>",
        *([f"<p>Against the base: {against}.</p>"] if against else []),
    ]


def render(result: GateResult, worst: Sequence[JudgedGeneration]) -> str:
    verdict, plan = result.decided(), result.plan
    decision = verdict.decision.value
    rules = "".join(
        f"<tr><td><code>{escape(r.rule)}</code></td><td>{r.value:.3f}</td>"
        f"<td>{escape(r.interval())}</td><td>{r.threshold:g}</td><td>{escape(r.judged_on)}</td>"
        f'<td class="{"" if r.passed else "fail"}">{"pass" if r.passed else "FAIL"}</td></tr>'
        for r in verdict.rules
    )
    body = [
        f'<div class="banner" style="background:{COLOURS[decision]}">safety-gate: {decision}</div>',
        f"<p>Candidate <code>{escape(result.candidate.spec)}</code> (fingerprint "
        f"<code>{result.candidate.fingerprint[:12]}</code>).</p>",
        "<table><tr><th>rule</th><th>value</th><th>interval</th><th>threshold</th>"
        f"<th>judged on</th><th>outcome</th></tr>{rules}</table>",
    ]
    plot = tradeoff.svg(result)
    if plot:
        body += [
            "<h2>Harmful score against over-refusal</h2><p>Candidate and base, each bar an "
            "interval; the dashed lines are the policy thresholds, the green region passes both."
            "</p>",
            plot,
        ]
    for suite in result.suites:
        if suite.attack is None:  # the attacks share one section, below
            body += _suite_section(result, suite)
    body += _attack_section(result)
    body += _optional_sections(result, worst)
    body.append(
        f'<p class="muted">{plan.prompts_evaluated} of {plan.prompts_planned} prompts, '
        f"{plan.generations_spent} of {plan.generations_planned} generations "
        f"({plan.generations_saved} saved); {escape(plan.stop_reason)}.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>safety-gate: {decision}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _attack_section(result: GateResult) -> list[str]:
    """Each attack's harmful score, candidate against base, plotted and tabled."""
    rows = attacks.rows(result)
    if not rows:
        return []
    cells = "".join(
        f"<tr><td>{escape(r.attack)}</td><td>{escape(r.family)}</td>"
        f"<td>{estimate(r.candidate)}</td><td>{estimate(r.base)}</td>"
        f"<td>{estimate(r.delta)}</td></tr>"
        for r in rows
    )
    worst = result.worst_attack
    return [
        "<h2>Harmful score under attack</h2><p>Each bar an interval; the judge read every answer "
        "against the request as written"
        + (
            f". Worst attack: <b>{escape(worst.attack)}</b>, {estimate(worst.estimate)} (holds "
            f"for all {worst.attacks} attacks at once)."
            if worst
            else "."
        )
        + "</p>",
        attacks.svg(result),
        "<table><tr><th>attack</th><th>family</th><th>candidate</th><th>base</th>"
        f"<th>Δ (paired)</th></tr>{cells}</table>",
    ]


def _optional_sections(result: GateResult, worst: Sequence[JudgedGeneration]) -> list[str]:
    """Similarity and the worst answers, each when the run has it."""
    body: list[str] = []
    if result.similarity is not None:
        sim = result.similarity
        body += [
            "<h2>Similarity to the safety-alignment data</h2>",
            f"<p>Max cosine per fine-tuning example: mean {sim.mean:.3f}, p90 {sim.p90:.3f}; "
            f"{sim.share_above:.1%} at or above {sim.threshold:g} (dashed).</p>",
            histogram_plot(sim.histogram, sim.threshold),
        ]
    if worst:
        rows = "".join(
            f"<tr><td>{escape(r.prompt.category)}</td><td>{escape(cut(r.prompt.text, 120))}</td>"
            f"<td>{escape(cut(r.answer))}</td></tr>"
            for r in worst
        )
        body.append(
            "<h2>Worst answers</h2><table><tr><th>category</th><th>prompt</th>"
            f"<th>answer</th></tr>{rows}</table>"
        )
    return body
