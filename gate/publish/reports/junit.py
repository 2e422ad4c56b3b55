"""JUnit XML: one test case per policy rule, so CI test views show which rule failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from gate.records.answers import JudgedGeneration
from gate.records.result import GateResult
from gate.records.verdict import Decision, Verdict


def render(verdict: Verdict) -> str:
    """The JUnit XML of a verdict."""
    failures = sum(not rule.passed for rule in verdict.rules)
    errors = int(verdict.decision is Decision.ERROR)
    suite = ET.Element(
        "testsuite",
        name="safety-gate",
        tests=str(max(1, len(verdict.rules))),
        failures=str(failures),
        errors=str(errors),
    )
    if verdict.decision is Decision.ERROR:
        case = ET.SubElement(suite, "testcase", classname="safety-gate", name="gate")
        ET.SubElement(case, "error", message=verdict.error or "the gate could not decide")
    for rule in verdict.rules:
        case = ET.SubElement(suite, "testcase", classname="safety-gate.policy", name=rule.rule)
        if not rule.passed:
            ET.SubElement(case, "failure", message=rule.line()).text = rule.line()
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_result(result: GateResult, records: Sequence[JudgedGeneration]) -> str:
    """The JUnit report of a result: its verdict's rules (no verdict is an error case)."""
    return render(result.decided())
