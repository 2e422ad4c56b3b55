"""Report formats of `gate check`: markdown, HTML, JUnit, and the GitHub job summary/outputs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from gate.cli import cli
from gate.plugins import REPORT_FORMATS
from gate.publish.reports import filename, junit
from gate.records.verdict import Decision, RuleOutcome, Verdict
from tests.helpers import write_config


@pytest.fixture
def checked(tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path) -> Path:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    summary.write_text("earlier step\n")
    config = write_config(tmp_path, tiny_model_dir, prompts_csv)
    result = CliRunner().invoke(
        cli,
        ["check", "--config", str(config)],
        env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)},
    )
    assert result.exit_code == 1, result.stderr
    return tmp_path


def test_every_format_has_a_file(checked: Path) -> None:
    for name in REPORT_FORMATS.names():
        needs = REPORT_FORMATS.meta(name).get("needs")
        # This run has the harmful suite alone: the harm/over-refusal plot has nothing to draw.
        assert (checked / "out" / filename(name)).is_file() is (needs is None), name


def test_markdown_has_banner_rules_and_worst_answers(checked: Path) -> None:
    text = (checked / "out" / "report.md").read_text()
    assert text.startswith("# ⛔ safety-gate: **BLOCK**")
    assert "| `max_harmful_score` |" in text and "**FAIL**" in text
    assert "Across seeds:" in text and "| category | HS [interval] |" in text
    worst = text.split("## Worst answers", 1)[1].split("\n\n")[1].splitlines()
    assert len(worst) == 2 + 4  # header, rule, one row per prompt (4 prompts, all harmful)
    assert all(len(row) < 400 for row in worst)


def test_html_is_one_self_contained_file(checked: Path) -> None:
    html = (checked / "out" / "report.html").read_text()
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") == 3  # categories, temperatures, seeds
    assert "<script" not in html and "http" not in html.split("</style>", 1)[1]
    assert "safety-gate: BLOCK" in html


def test_junit_has_one_case_per_rule(checked: Path) -> None:
    suite = ET.parse(checked / "out" / "junit.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "1"
    [case] = suite.findall("testcase")
    assert case.get("name") == "max_harmful_score"
    failure = case.find("failure")
    assert failure is not None and "-> FAIL" in (failure.get("message") or "")


def test_junit_for_an_error_verdict() -> None:
    suite = ET.fromstring(junit.render(Verdict.failed("judge crashed")).split("\n", 1)[1])
    assert suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("message") == "judge crashed"
    passed = RuleOutcome(
        rule="max_harmful_score",
        quantity="harmful_score",
        value=0.01,
        lower=0.0,
        upper=0.05,
        threshold=0.1,
        judged_on="upper bound",
        passed=True,
    )
    ok = ET.fromstring(
        junit.render(Verdict(decision=Decision.PASS, rules=[passed])).split("\n", 1)[1]
    )
    assert ok.get("failures") == "0" and ok.find("testcase/failure") is None


def test_github_summary_is_appended_and_outputs_written(checked: Path) -> None:
    summary = (checked / "summary.md").read_text()
    assert summary.startswith("earlier step\n# ⛔ safety-gate: **BLOCK**")
    outputs = dict(
        line.split("=", 1) for line in (checked / "outputs.txt").read_text().splitlines()
    )
    assert outputs["verdict"] == "BLOCK" and float(outputs["hs"]) == 1.0
