"""The suites of a check, resolved from `[[suites]]`: each one's kind, benchmark, judge and, for
an attack suite, one run per attack. And the checks that the suites and the policy fit together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from gate.config import BenchmarkSection, GateConfig, JudgeSection, SuiteSection
from gate.errors import InputError
from gate.sections import SIMILARITY_STATS, SuiteKind

_ATTACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Suite:
    """A configured suite, resolved: what it measures, on which prompts, judged by whom."""

    name: str
    kind_name: str
    kind: SuiteKind
    benchmark: BenchmarkSection
    judge: JudgeSection
    section: str
    """The `[[suites]]` entry it comes from: its name, which the runs of an attack suite share."""


def _attack(name: str, where: str) -> str:
    """A registered attack's name; its code is loaded only when the suite runs."""
    from gate.plugins import ATTACKS

    if name not in ATTACKS.names():
        raise InputError(f"{where}: unknown attack {name!r} (known: {', '.join(ATTACKS.names())})")
    if not _ATTACK_NAME.match(name):
        raise InputError(f"{where}: attack name {name!r} must be lower-case letters, digits, - _")
    return name


def _attacks(section: SuiteSection, kind: SuiteKind, where: str) -> list[str | None]:
    """The attacks a suite runs under: one None (as written) for a kind without attacks."""
    if not kind.attacked:
        if section.attacks:
            raise InputError(f"{where}.attacks: a suite of kind {section.kind!r} takes no attacks")
        return [None]
    if not section.attacks:
        raise InputError(
            f"{where}.attacks: a suite of kind {section.kind!r} needs a list of attacks",
            hint='e.g. attacks = ["prefix-injection", "base64"]; `gate plugins` lists them',
        )
    repeated = sorted({a for a in section.attacks if section.attacks.count(a) > 1})
    if repeated:
        raise InputError(f"{where}.attacks: {repeated[0]!r} is listed twice")
    return [_attack(name, f"{where}.attacks[{i}]") for i, name in enumerate(section.attacks)]


def plan_suites(config: GateConfig, source: str = "settings") -> list[Suite]:
    """Each configured suite with its kind, benchmark and judge filled in; a suite with attacks
    is one run per attack, named `SUITE/ATTACK`."""
    from gate.plugins import SUITES

    plan = []
    for index, section in enumerate(config.suites):
        kind: SuiteKind = SUITES.create(section.kind)
        top = kind.reads_top_level
        benchmark = section.benchmark or (
            config.benchmark if top else BenchmarkSection(name=kind.benchmark)
        )
        judge = section.judge or (config.judge if top else JudgeSection(name=kind.judge))
        for attack in _attacks(section, kind, f"{source}: suites[{index}]"):
            if attack is None:
                plan.append(
                    Suite(section.title, section.kind, kind, benchmark, judge, section.title)
                )
                continue
            attacked = replace(
                kind,
                attack=attack,
                metric=f"{kind.metric}.{attack}",
                label=f"{kind.label} ({attack})",
            )
            name = f"{section.title}/{attack}"
            plan.append(Suite(name, section.kind, attacked, benchmark, judge, section.title))
    return plan


def _yields(plan: list[Suite]) -> set[str]:
    """Every quantity a rule may read. A name two suites yield is an error, since a rule on it
    would be ambiguous; the runs of one attack suite share the unqualified names."""
    owner: dict[str, str] = {f"similarity_{stat}": "similarity" for stat in SIMILARITY_STATS}
    for suite in plan:
        kind = suite.kind
        names = [kind.key(q) for q in (kind.quantity, kind.delta, kind.complement) if q]
        names += [f"corrected_{kind.key(kind.quantity)}", *([kind.worst] if kind.worst else [])]
        for name in names:
            if owner.setdefault(name, suite.section) != suite.section:
                raise InputError(
                    f"suites: {owner[name]!r} and {suite.section!r} both measure {name!r}",
                    hint="a check takes one suite of each kind on the harmful prompts",
                )
    return set(owner) | {q for suite in plan for q in suite.kind.quantities()}


def check_suites(config: GateConfig, source: str) -> GateConfig:
    """Suite names are unique, each judge is of the family its suite needs, and every policy
    rule reads a quantity some configured suite yields."""
    from gate.plugins import JUDGES, judge_family

    try:
        plan = plan_suites(config, source)
        yielded = _yields(plan)
    except InputError as exc:
        message = exc.message if exc.message.startswith(source) else f"{source}: {exc.message}"
        raise InputError(message, hint=exc.hint) from exc
    names = [suite.name for suite in plan]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{source}: suites: two suites are named {repeated[0]!r}")
    for index, suite in enumerate(config.suites):
        kind, judge = next((s.kind, s.judge) for s in plan if s.section == suite.title)
        family = judge_family(judge.name)
        if family != kind.judge_family:
            raise InputError(
                f"{source}: suites[{index}].judge: {judge.name!r} is a {family!r} judge; "
                f"suite {suite.title!r} needs a judge of the {kind.judge_family!r} family",
                hint="known: "
                + ", ".join(n for n in JUDGES.names() if judge_family(n) == kind.judge_family),
            )
    return _check_rules(config, yielded, source, [s.title for s in config.suites])


def _check_rules(
    config: GateConfig, yielded: set[str], source: str, names: list[str]
) -> GateConfig:
    policy = config.policy
    if "harmful_score" not in yielded and "max_harmful_score" not in policy.model_fields_set:
        # The default rule is the harmful suite's; a check without that suite has no default.
        policy = policy.model_copy(update={"max_harmful_score": None})
        config = config.model_copy(update={"policy": policy})
    for rule, quantity, _, _ in policy.rules():
        if quantity.split("[")[0] not in yielded:
            raise InputError(
                f"{source}: policy.{rule.split('[')[0]}: no configured suite measures "
                f"{quantity.split('[')[0]!r} (suites: {', '.join(names)})",
                hint="add the suite under [[suites]], or remove the rule",
            )
    return config
