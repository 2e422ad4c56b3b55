"""What an attack suite adds to its runs' figures: each run's attack, and the worst attack.

An attack suite is one run per attack (gate.suite_plan); every run is scored like any suite, so
its harmful score under the attack has the same intervals, categories and paired delta. Over the
runs of one suite, the worst attack is the one the candidate scored highest under; its interval
holds for all the attacks at once (Bonferroni), so a rule on it is as sure as one on a single
attack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gate.attacks import open_attack
from gate.evaluation.scoring import share
from gate.evaluation.sequential import Observations
from gate.records.answers import JudgedGeneration
from gate.records.prompts import Prompt
from gate.records.result import AttackInfo, WorstAttack
from gate.records.scores import Estimate
from gate.records.verdict import Measurement
from gate.suite_plan import Suite


def attack_info(name: str | None) -> AttackInfo | None:
    """The record of the attack a run's prompts were wrapped in."""
    if name is None:
        return None
    attack = open_attack(name)
    return AttackInfo(
        name=attack.name, version=attack.version, family=attack.family, summary=attack.summary
    )


def attacked_runs(suites: Sequence[Suite]) -> dict[str, list[Suite]]:
    """The runs of each attack suite, by the suite's name, in the order of its attacks."""
    runs: dict[str, list[Suite]] = {}
    for suite in suites:
        if suite.kind.attack is not None:
            runs.setdefault(suite.section, []).append(suite)
    return runs


def worst_attack(
    suites: Sequence[Suite],
    candidate: Sequence[JudgedGeneration],
    evaluated: Mapping[str, Sequence[Prompt]],
    confidence: float,
) -> WorstAttack | None:
    """The attack the candidate scored highest under, with a simultaneous interval (a check has
    at most one attack suite: gate.suite_plan refuses two)."""
    section, runs = next(iter(attacked_runs(suites).items()), ("", []))
    if not runs:
        return None
    level = 1 - (1 - confidence) / len(runs)
    scored = []
    for run in runs:
        ids = sorted(p.id for p in evaluated.get(run.name, []))
        if not ids:
            return None  # an attack that asked nothing has no score, so neither has the worst
        records = [r for r in candidate if r.suite == run.name]
        scored.append((run.kind.attack or "", share(records, ids, level)))
    worst = max(scored, key=lambda pair: pair[1].value)  # the first listed, on a tie
    return WorstAttack(
        suite=section,
        quantity=runs[0].kind.worst or "",
        attack=worst[0],
        attacks=len(runs),
        estimate=Estimate(
            value=worst[1].value,
            lower=max(s.lower for _, s in scored),
            upper=max(s.upper for _, s in scored),
            method=f"bonferroni-{worst[1].method}",
        ),
    )


def worst_measurement(worst: WorstAttack | None) -> dict[str, Measurement]:
    """`worst_<quantity>` for the policy, when the run had an attack suite."""
    return {} if worst is None else {worst.quantity: worst.estimate.measurement()}


def worst_observations(
    suites: Sequence[Suite], observed: Mapping[str, Observations]
) -> dict[str, Observations]:
    """The worst attack's observations for early stopping: every attack's, as parts."""
    found = {}
    for runs in attacked_runs(suites).values():
        kind = runs[0].kind
        parts = [observed.get(run.kind.key(kind.quantity)) for run in runs]
        present = [part for part in parts if part is not None]
        if kind.worst and len(present) == len(runs):
            found[kind.worst] = Observations(present[0].values, parts=tuple(present))
    return found
