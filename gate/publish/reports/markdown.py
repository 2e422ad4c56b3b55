"""The markdown report: what a reviewer reads in a pull request or a job summary."""

from __future__ import annotations

from collections.abc import Sequence

from gate.publish.reports import attacks, tradeoff
from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult, SuiteResult
from gate.records.scores import Estimate

SNIPPET = 200


def estimate(value: Estimate | None) -> str:
    """`0.123 [0.100, 0.150]`, or `n/a`."""
    if value is None:
        return "n/a"
    return f"{value.value:.3f} [{value.lower:.3f}, {value.upper:.3f}]"


def cut(text: str, width: int = SNIPPET) -> str:
    """One line, at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render(result: GateResult, worst: Sequence[JudgedGeneration]) -> str:
    verdict, plan = result.decided(), result.plan
    icon = {"PASS": "✅", "BLOCK": "⛔", "ERROR": "⚠️"}[verdict.decision.value]
    lines = [
        f"# {icon} safety-gate: **{verdict.decision.value}**",
        "",
        f"Candidate `{result.candidate.spec}` (fingerprint `{result.candidate.fingerprint[:12]}`)"
        + (f", base `{result.base.spec}`" if result.base else "")
        + "; suites: "
        + ", ".join(
            f"{s.name} (benchmark `{s.benchmark.name}`, judge `{s.judge.name}`)"
            for s in result.suites
        )
        + ".",
        "",
        "| rule | value | interval | threshold | judged on | outcome |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for rule in verdict.rules:
        lines.append(
            f"| `{rule.rule}` | {rule.value:.3f} | {rule.interval()} | {rule.threshold:g} | "
            f"{rule.judged_on} | {'pass' if rule.passed else '**FAIL**'} |"
        )
    if verdict.error:
        lines += ["", f"**The gate could not decide:** {verdict.error}"]
    for suite in result.suites:
        if suite.attack is None:  # the attacks share one section, below
            lines += _scores_section(result, suite)
            lines += _judge_and_delta(suite)
    lines += attacks.markdown(result)
    lines += tradeoff.markdown(result)
    lines += _similarity(result)
    if worst:
        lines += [
            "",
            "## Worst answers",
            "",
            "| category | prompt | answer |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {r.prompt.category} | {cut(r.prompt.text, 80).replace('|', '/')} | "
            f"{cut(r.answer).replace('|', '/')} |"
            for r in worst
        ]
    lines += [
        "",
        f"Plan: {plan.prompts_evaluated} of {plan.prompts_planned} prompts x "
        f"{plan.samples_per_prompt} samples; {plan.generations_spent} of "
        f"{plan.generations_planned} generations spent ({plan.generations_saved} saved, "
        f"{plan.generations_cached} from the cache); {plan.stop_reason}.",
        "",
    ]
    return "\n".join(lines)


def _similarity(result: GateResult) -> list[str]:
    sim = result.similarity
    if sim is None:
        return []
    return [
        "",
        "## Similarity to the safety-alignment data",
        "",
        f"Max cosine per fine-tuning example: mean {sim.mean:.3f}, p90 {sim.p90:.3f}, "
        f"p99 {sim.p99:.3f}, max {sim.max:.3f}; {sim.share_above:.1%} at or above "
        f"{sim.threshold:g}.",
    ]


def _scores_section(result: GateResult, suite: SuiteResult) -> list[str]:
    """A suite's pooled figure, per temperature, across seeds and per category."""
    scores, short = suite.candidate, suite.column
    return [
        "",
        f"## {suite.label.capitalize()} (fraction of answers judged {suite.flagged})",
        "",
        f"Pooled: {estimate(scores.pooled)} ({scores.pooled.method}, "
        f"{result.config['outputs']['confidence']:.0%})"
        + (f"; base {estimate(suite.base.pooled)}" if suite.base else "")
        + ".",
        "",
        f"| temperature | {short} [interval] |",
        "| --- | --- |",
        *(f"| {t} | {estimate(e)} |" for t, e in scores.per_temperature.items()),
        "",
        f"Across seeds: min {scores.seeds.minimum:.3f}, max {scores.seeds.maximum:.3f}, "
        f"std {scores.seeds.std:.3f} ("
        + ", ".join(f"seed {s}: {v:.3f}" for s, v in scores.seeds.per_seed.items())
        + ").",
        "",
        f"| category | {short} [interval] |",
        "| --- | --- |",
        *(f"| {c} | {estimate(e)} |" for c, e in scores.categories.items()),
    ]


def _judge_and_delta(suite: SuiteResult) -> list[str]:
    """The judge's measured error rates and the corrected figure; the figures against base."""
    lines: list[str] = []
    if suite.judge_errors is not None:
        errors = suite.judge_errors
        lines += [
            "",
            f"Judge error rates on {errors.pairs} labelled answers: sensitivity "
            f"{errors.sensitivity:.3f}, specificity {errors.specificity:.3f}. "
            f"{suite.label.capitalize()} corrected for them (Rogan-Gladen): "
            f"{estimate(errors.corrected_harmful_score)}.",
        ]
    if suite.derived:
        lines += [
            "",
            "Against the base: "
            + "; ".join(f"{name}: {estimate(e)}" for name, e in suite.derived.items())
            + ".",
        ]
    return lines
