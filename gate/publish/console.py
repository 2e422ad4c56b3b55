"""What a person reads on the terminal: harmful-score, similarity and verdict tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gate.publish.reports import attacks
from gate.publish.reports.markdown import estimate
from gate.records.result import GateResult, SuiteResult
from gate.records.scores import Share
from gate.records.verdict import Verdict
from gate.similarity.score import SimilarityResult


def _percent(score: Share) -> tuple[str, str, str]:
    return (
        f"{score.value:.1%}",
        f"[{score.lower:.1%}, {score.upper:.1%}]",
        f"{score.flagged}/{score.generations}",
    )


def hs_table(result: GateResult, suite: SuiteResult | None = None) -> Table:
    """A suite's figure (the headline suite's by default) overall and per category, with
    intervals and counts."""
    suite = suite or result.primary
    config = result.config
    sampling = config["sampling"]
    temperature = sampling["temperatures"][0]
    setting = (
        "greedy"
        if temperature == 0
        else (
            f"T={temperature:g}, top_p={sampling['top_p']:g}, min_p={sampling['min_p']:g}, "
            f"seed={sampling['seeds'][0]}"
        )
    )
    scores = suite.candidate
    table = Table(
        title=f"{suite.label.capitalize()}: {result.candidate.spec} on {suite.benchmark.name}",
        caption=f"judge={suite.judge.name}, {setting}, "
        f"max_new_tokens={sampling['max_new_tokens']}; "
        f"{config['outputs']['confidence']:.0%} intervals ({scores.pooled.method}, "
        "over prompts)",
    )
    table.add_column("category")
    # Numbers never wrap; long category names may.
    table.add_column(suite.column, justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column(suite.flagged, justify="right", no_wrap=True)
    for name, category in scores.categories.items():
        table.add_row(name, *_percent(category))
    table.add_section()
    table.add_row("all", *_percent(scores.pooled), style="bold")
    return table


def attack_table(result: GateResult) -> Table | None:
    """The harmful score under each attack, candidate and base, when the run had attacks."""
    rows = attacks.rows(result)
    if not rows:
        return None
    table = Table(
        title=f"Harmful score under attack: {result.candidate.spec}",
        caption="judged against the request as written"
        + (f"; worst: {result.worst_attack.attack}" if result.worst_attack else ""),
    )
    for heading in ("attack", "family", "HS", "95% CI", "base", "Δ vs base"):
        table.add_column(heading, justify="left" if heading in ("attack", "family") else "right")
    for row in rows:
        value, interval, _ = _percent(row.candidate)
        base = "-" if row.base is None else f"{row.base.value:.1%}"
        delta = "-" if row.delta is None else f"{row.delta.value:+.1%}"
        table.add_row(row.attack, row.family, value, interval, base, delta)
    return table


def print_eval(result: GateResult, console: Console) -> None:
    """Print the HS table and a short line on throughput and where the files are."""
    for suite in result.suites:
        if suite.attack is None:
            console.print(hs_table(result, suite))
    table = attack_table(result)
    if table is not None:
        console.print(table)
    throughput = result.throughput
    console.print(
        f"{throughput.generations} generations, {throughput.tokens_generated} tokens "
        f"in {result.seconds.get('evaluate', 0.0):.1f}s "
        f"({throughput.tokens_per_second:.1f} tok/s); "
        f"model fingerprint {result.candidate.fingerprint[:12]}",
        soft_wrap=True,
    )
    if throughput.stopped_by_length:
        console.print(
            f"{throughput.stopped_by_length} answers hit max_new_tokens="
            f"{result.config['sampling']['max_new_tokens']}",
            soft_wrap=True,
        )
    if throughput.judge_unparsed:
        console.print(
            f"{throughput.judge_unparsed} judge answers could not be read and were counted as "
            "harmful",
            soft_wrap=True,
        )
    if throughput.judge_categories:
        console.print(category_table(throughput.judge_categories))


def category_table(counts: dict[str, int]) -> Table:
    """The candidate's harmful answers per category the judge named."""
    from gate.judges.llamaguard import CATEGORIES

    table = Table(title="Harmful answers by the judge's category")
    table.add_column("category")
    table.add_column("answers", justify="right", no_wrap=True)
    for code, count in sorted(counts.items(), key=lambda item: -item[1]):
        table.add_row(f"{code} {CATEGORIES.get(code, '')}".strip(), str(count))
    return table


def similarity_tables(result: SimilarityResult) -> tuple[Table, Table]:
    """The two score distributions, and the most similar pairs."""
    summary = Table(
        title=f"Similarity: {result.finetune} vs {result.alignment}",
        caption=f"max cosine per example; embedder {result.embedder_id}",
    )
    summary.add_column("per example of")
    for name in ("n", "mean", "p50", "p90", "p99", "max"):
        summary.add_column(name, justify="right", no_wrap=True)
    threshold = result.finetune_summary.threshold
    summary.add_column(f">= {threshold:g}", justify="right", no_wrap=True)
    for label, stats in (
        ("fine-tuning set", result.finetune_summary),
        ("alignment set", result.alignment_summary),
    ):
        summary.add_row(
            label,
            str(stats.count),
            *(f"{value:.3f}" for value in (stats.mean, stats.p50, stats.p90, stats.p99, stats.max)),
            f"{stats.share_above:.1%}",
        )
    pairs = Table(title="Most similar pairs")
    pairs.add_column("cosine", justify="right", no_wrap=True, min_width=6)
    pairs.add_column("fine-tuning example", overflow="ellipsis", no_wrap=True, max_width=32)
    pairs.add_column("alignment example", overflow="ellipsis", no_wrap=True, max_width=32)
    for pair in result.top_pairs:
        pairs.add_row(f"{pair.cosine:.3f}", pair.finetune, pair.alignment)
    return summary, pairs


def print_similarity(result: SimilarityResult, console: Console) -> None:
    """Print the summary and the top pairs."""
    for table in similarity_tables(result):
        console.print(table)
    console.print(
        f"embedded {result.embedded} new texts; {result.seconds['total']:.1f}s in all",
        soft_wrap=True,
    )


def verdict_table(verdict: Verdict) -> Table:
    """One line per rule."""
    table = Table(title=f"Verdict: {verdict.decision.value}")
    table.add_column("rule")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("interval", justify="right", no_wrap=True)
    table.add_column("threshold", justify="right", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    for rule in verdict.rules:
        table.add_row(
            rule.rule,
            f"{rule.value:.3f}",
            rule.interval(),
            f"{rule.threshold:g}",
            "pass" if rule.passed else "FAIL",
        )
    return table


def check_summary(result: GateResult) -> str:
    """Each suite's pooled figure, its spread across seeds and against the base, and what the
    plan spent, in a few plain lines."""
    plan = result.plan
    lines = []
    for suite in result.suites:
        scores = suite.candidate
        if suite.attack is not None:  # one line each: the attack table has the rest
            delta = ", ".join(f"{name} {estimate(e)}" for name, e in suite.derived.items())
            lines.append(
                f"{suite.label} {estimate(scores.pooled)}" + (f"; {delta}" if delta else "")
            )
            continue
        seeds = ", ".join(f"seed {s}: {v:.3f}" for s, v in scores.seeds.per_seed.items())
        lines += [
            f"{suite.label} {estimate(scores.pooled)} ({scores.pooled.method}); "
            + ", ".join(f"T={t}: {e.value:.3f}" for t, e in scores.per_temperature.items()),
            f"across seeds: min {scores.seeds.minimum:.3f}, max {scores.seeds.maximum:.3f}, "
            f"std {scores.seeds.std:.3f} ({seeds})",
        ]
        if suite.derived:
            lines.append(", ".join(f"{name} {estimate(e)}" for name, e in suite.derived.items()))
        if suite.judge_errors is not None:
            errors = suite.judge_errors
            lines.append(
                f"judge on {errors.pairs} labelled answers: sensitivity "
                f"{errors.sensitivity:.3f}, specificity {errors.specificity:.3f}; corrected "
                f"{suite.label} {estimate(errors.corrected_harmful_score)} (Rogan-Gladen)"
            )
    lines.append(
        f"{plan.prompts_evaluated}/{plan.prompts_planned} prompts, {plan.generations_spent} of "
        f"{plan.generations_planned} generations ({plan.generations_saved} saved, "
        f"{plan.generations_cached} cached): {plan.stop_reason}; rules judged on "
        f"{plan.interval_method} intervals"
    )
    return "\n".join(lines)
