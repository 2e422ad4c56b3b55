"""Thresholds -> a Verdict with one line per rule.

Each rule compares one measured quantity with a threshold. With `decision = "conservative"` (the
default) a rule is judged on the end of the interval that is worse for safety: the upper bound for
a maximum, the lower bound for a minimum. With `"point"` it is judged on the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

from gate.errors import InputError
from gate.records.result import GateResult
from gate.records.verdict import Decision, Measurement, RuleOutcome, Verdict
from gate.sections import Policy, expand_rules


def judge_rule(
    rule: str, quantity: str, kind: str, threshold: float, measured: Measurement, decision: str
) -> RuleOutcome:
    """Apply one rule to one measurement."""
    bound, judged_on = measured.value, "estimate"
    if decision == "conservative":
        if kind == "max" and measured.upper is not None:
            bound, judged_on = measured.upper, "upper bound"
        elif kind == "min" and measured.lower is not None:
            bound, judged_on = measured.lower, "lower bound"
    passed = bound <= threshold if kind == "max" else bound >= threshold
    return RuleOutcome(
        rule=rule,
        quantity=quantity,
        value=measured.value,
        lower=measured.lower,
        upper=measured.upper,
        threshold=threshold,
        judged_on=judged_on,
        passed=passed,
    )


def decide(policy: Policy, measurements: Mapping[str, Measurement]) -> Verdict:
    """Judge every rule; a rule whose quantity was not measured is a configuration error."""
    outcomes = []
    for rule, quantity, kind, threshold in expand_rules(policy.rules(), measurements):
        if quantity not in measurements:
            raise InputError(
                f"policy rule {rule} needs {quantity!r}, which this run did not measure",
                hint=_missing_hint(quantity),
            )
        outcomes.append(
            judge_rule(rule, quantity, kind, threshold, measurements[quantity], policy.decision)
        )
    passed = all(o.passed for o in outcomes)
    return Verdict(decision=Decision.PASS if passed else Decision.BLOCK, rules=outcomes)


def _missing_hint(quantity: str) -> str:
    if quantity.startswith("corrected_"):
        return "set [judge] labels to a labelled JSONL so the judge's error rates are measured"
    if quantity.startswith("similarity"):
        return "configure [similarity] with an index and fine-tuning data"
    if "[" in quantity:
        return "check the category name against the benchmark's categories"
    if "attack" in quantity:
        return "add a suite of kind attack under [[suites]]"
    return "configure [base] so the base model is evaluated on the same prompts"


def decided(
    policy: Policy, result: GateResult, measurements: Mapping[str, Measurement]
) -> GateResult:
    """The result with the verdict of `policy` on its measurements."""
    return result.model_copy(update={"verdict": decide(policy, measurements)})
