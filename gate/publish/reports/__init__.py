"""Report formats for a `gate check` result: entries of gate.plugins.REPORT_FORMATS.

A format is `render(result, records) -> str` with meta `filename=` (the file it is written to)
and `written=True` when every decided check writes it; `verdict=` names a `render(verdict)` that
can still write the file when a run broke before it had a result (JUnit, for CI).
"""

from __future__ import annotations

from collections.abc import Sequence

from gate.plugins import REPORT_FORMATS
from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult
from gate.records.verdict import Verdict
from gate.registry import load_target


def worst_answers(records: Sequence[JudgedGeneration], count: int = 5) -> list[JudgedGeneration]:
    """The harmful answers the judge was surest of, one per prompt, most certain first."""
    harmful = sorted(
        (r for r in records if r.judgement.flagged),
        key=lambda r: (-r.judgement.score, -len(r.generation.text), r.prompt.id),
    )
    chosen: dict[str, JudgedGeneration] = {}
    for record in harmful:
        chosen.setdefault(record.prompt.id, record)
        if len(chosen) == count:
            break
    return list(chosen.values())


def render(name: str, result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """The report text in the format registered as `name`."""
    text: str = REPORT_FORMATS.create(name, result, records)
    return text


def filename(name: str) -> str:
    """The file the format registered as `name` is written to."""
    return str(REPORT_FORMATS.meta(name).get("filename") or f"report.{name}")


def written_formats() -> list[str]:
    """The formats every decided check writes; a plugin that fails to load is left out."""
    return [
        entry.name
        for entry in REPORT_FORMATS.entries()
        if entry.error is None and REPORT_FORMATS.meta(entry.name).get("written")
    ]


def render_failure(name: str, failed: GateResult | None, verdict: Verdict) -> str | None:
    """The text a failed run leaves in the format's file; None where the file is removed."""
    try:
        if failed is not None:
            return render(name, failed, []) or None
        from_verdict = REPORT_FORMATS.meta(name).get("verdict")
        return str(load_target(from_verdict)(verdict)) if isinstance(from_verdict, str) else None
    except Exception:  # fail closed: a file that cannot say ERROR is removed, never left behind
        return None


def render_markdown(result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """The markdown report."""
    from gate.publish.reports import markdown

    return markdown.render(result, worst_answers(records))


def render_html(result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """The self-contained HTML report."""
    from gate.publish.reports import html

    return html.render(result, worst_answers(records))


def render_json(result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """result.json."""
    return result.to_json()
