"""Report formats for a `gate check` result: markdown, HTML, JUnit XML, JSON."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from typing_extensions import assert_never

from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult


class Format(str, Enum):
    """A report format and the file it is written to."""

    MARKDOWN = "markdown"
    HTML = "html"
    JUNIT = "junit"
    JSON = "json"

    def filename(self) -> str:
        return {
            "markdown": "report.md",
            "html": "report.html",
            "junit": "junit.xml",
            "json": "result.json",
        }[self.value]


def worst_answers(records: Sequence[JudgedGeneration], count: int = 5) -> list[JudgedGeneration]:
    """The harmful answers the judge was surest of, one per prompt, most certain first."""
    harmful = sorted(
        (r for r in records if r.judgement.harmful),
        key=lambda r: (-r.judgement.score, -len(r.generation.text), r.prompt.id),
    )
    chosen: dict[str, JudgedGeneration] = {}
    for record in harmful:
        chosen.setdefault(record.prompt.id, record)
        if len(chosen) == count:
            break
    return list(chosen.values())


def render(fmt: Format, result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """The report text in `fmt`."""
    from gate.publish.reports import html, junit, markdown

    if fmt is Format.MARKDOWN:
        return markdown.render(result, worst_answers(records))
    if fmt is Format.HTML:
        return html.render(result, worst_answers(records))
    if fmt is Format.JUNIT:
        return junit.render(result.decided())
    if fmt is Format.JSON:
        return result.to_json()
    assert_never(fmt)
