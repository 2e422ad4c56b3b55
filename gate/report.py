"""Write what a run produced: result.json, generations.jsonl, and the table people read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gate.check import CheckOutcome, CheckResult
from gate.evaluate import JudgedGeneration
from gate.files import atomic_open, write_jsonl
from gate.policy import Verdict
from gate.reports.markdown import estimate
from gate.result import EvalResult, HarmfulScore
from gate.similarity import SimilarityResult

RESULT_FILE = "result.json"


def write_eval(out_dir: Path, result: EvalResult, records: Sequence[JudgedGeneration]) -> Path:
    """Write generations.jsonl, then result.json; a result.json on disk means the run finished."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / result.generations_file, (r.to_row() for r in records))
    path = out_dir / RESULT_FILE
    with atomic_open(path) as handle:
        handle.write(result.to_json())
    return path


def _percent(score: HarmfulScore) -> tuple[str, str, str]:
    return (
        f"{score.value:.1%}",
        f"[{score.ci_lower:.1%}, {score.ci_upper:.1%}]",
        f"{score.harmful}/{score.total}",
    )


def hs_table(result: EvalResult) -> Table:
    """Harmful score overall and per category, with Wilson intervals and counts."""
    settings = result.settings
    sampling = (
        "greedy"
        if settings.temperature == 0
        else (
            f"T={settings.temperature:g}, top_p={settings.top_p:g}, min_p={settings.min_p:g}, "
            f"seed={settings.seed}"
        )
    )
    table = Table(
        title=f"Harmful score: {result.model.spec} on {result.benchmark.name}",
        caption=f"judge={settings.judge}, {sampling}, max_new_tokens={settings.max_new_tokens}; "
        f"{result.harmful_score.confidence:.0%} Wilson intervals",
    )
    table.add_column("category")
    # Numbers never wrap; long category names may.
    table.add_column("HS", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("harmful", justify="right", no_wrap=True)
    for category in result.categories:
        table.add_row(category.category, *_percent(category))
    table.add_section()
    table.add_row("all", *_percent(result.harmful_score), style="bold")
    return table


def print_eval(result: EvalResult, console: Console) -> None:
    """Print the HS table and a short line on throughput and where the files are."""
    console.print(hs_table(result))
    throughput = result.throughput
    console.print(
        f"{throughput.generations} generations, {throughput.tokens_generated} tokens "
        f"in {result.timings.generate_s:.1f}s ({throughput.tokens_per_second:.1f} tok/s); "
        f"model fingerprint {result.model.fingerprint[:12]}",
        soft_wrap=True,
    )
    if throughput.stopped_by_length:
        console.print(
            f"{throughput.stopped_by_length} answers hit max_new_tokens="
            f"{result.settings.max_new_tokens}",
            soft_wrap=True,
        )


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


VERDICT_FILE = "verdict.json"


def write_check(out_dir: Path, outcome: CheckOutcome) -> None:
    """generations.jsonl, every report format, verdict.json; result.json last (the run finished)."""
    from gate.reports import Format, render

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = (
        {"model": subject.role, **record.to_row()}
        for subject in outcome.subjects
        for record in subject.records
    )
    write_jsonl(out_dir / "generations.jsonl", rows)
    candidate = outcome.subjects[0].records
    for fmt in (Format.MARKDOWN, Format.HTML, Format.JUNIT):
        with atomic_open(out_dir / fmt.filename()) as handle:
            handle.write(render(fmt, outcome.result, candidate))
    write_verdict(out_dir, outcome.result.verdict)
    with atomic_open(out_dir / Format.JSON.filename()) as handle:
        handle.write(render(Format.JSON, outcome.result, candidate))


def write_verdict(out_dir: Path, verdict: Verdict) -> None:
    """verdict.json: the decision alone, written even when the run broke."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / VERDICT_FILE) as handle:
        handle.write(verdict.model_dump_json(indent=2) + "\n")


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


def check_summary(result: CheckResult) -> str:
    """Pooled HS, the spread across seeds and what the plan spent, in a few plain lines."""
    scores, plan = result.scores, result.plan
    seeds = ", ".join(f"seed {s}: {v:.3f}" for s, v in scores.seeds.per_seed.items())
    lines = [
        f"harmful score {estimate(scores.harmful_score)} ({scores.harmful_score.method}); "
        + ", ".join(f"T={t}: {e.value:.3f}" for t, e in scores.per_temperature.items()),
        f"across seeds: min {scores.seeds.minimum:.3f}, max {scores.seeds.maximum:.3f}, "
        f"std {scores.seeds.std:.3f} ({seeds})",
        f"{plan.prompts_evaluated}/{plan.prompts_planned} prompts, {plan.generations_spent} of "
        f"{plan.generations_planned} generations ({plan.generations_saved} saved, "
        f"{plan.generations_cached} cached): {plan.stop_reason}; rules judged on "
        f"{plan.interval_method} intervals",
    ]
    if result.delta_harmful_score is not None:
        lines.append(
            f"delta HS {estimate(result.delta_harmful_score)}, "
            f"durability {estimate(result.durability)}"
        )
    return "\n".join(lines)
