"""The built-in suite kinds; gate.plugins registers each by name (`[[suites]] kind = NAME`)."""

from __future__ import annotations

from gate.sections import SuiteKind


def harmful() -> SuiteKind:
    """Harmful prompts, a harm judge, the harmful score (HS): the first and default suite."""
    return SuiteKind(
        quantity="harmful_score",
        label="harmful score",
        metric="hs",
        flagged="harmful",
        judge_family="harm",
        benchmark="strongreject-small",
        judge="cross",
        complement="durability",
        reads_top_level=True,
    )


def over_refusal() -> SuiteKind:
    """Benign prompts that sound harmful, a refusal judge, the share refused: the utility half."""
    return SuiteKind(
        quantity="over_refusal_rate",
        label="over-refusal rate",
        metric="over_refusal",
        flagged="refused",
        judge_family="refusal",
        benchmark="benign-edgy",
        judge="refusal-phrases",
    )


def attack() -> SuiteKind:
    """The harmful prompts wrapped in each configured attack: the harmful score under attack
    (the attack success rate), per attack and at its worst."""
    return SuiteKind(
        quantity="attack_harmful_score",
        label="harmful score under attack",
        metric="ahs",
        flagged="harmful",
        judge_family="harm",
        benchmark="strongreject-small",
        judge="cross",
        reads_top_level=True,
        attacked=True,
    )
