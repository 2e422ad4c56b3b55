"""`gate judge`: judge stored generations again with another judge, without regenerating.

The source is a folder written by `gate eval`, `gate check` or `gate merge` (its result.json
says which models answered, on which benchmark, under which config) or its generations.jsonl.
Every answer is judged again; the statistics, and the verdict when the source decided one, are
computed as for an unsharded run over the prompts the source evaluated (no early stopping: the
source's stopping looks were taken with the other judge's calls).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from gate.config import GateConfig, JudgeSection, validate
from gate.errors import InputError, stage
from gate.evaluation.check import Outcome
from gate.evaluation.conclude import conclude
from gate.evaluation.engine import Log, Rounds, Subject, open_judge
from gate.records import GENERATIONS_FILE, RESULT_FILE
from gate.records.answers import read_answers
from gate.records.prompts import Prompt
from gate.records.result import GateResult


def _source(path: Path) -> tuple[Path, Path]:
    """(generations.jsonl, result.json) of a run folder or of a generations file."""
    generations = path / GENERATIONS_FILE if path.is_dir() else path
    result = generations.parent / RESULT_FILE
    if not generations.is_file():
        raise InputError(f"no generations to judge at {generations}")
    if not result.is_file():
        raise InputError(
            f"{result} is missing: re-judging needs the run's record beside its generations",
            hint="point --generations at the folder gate eval or gate check wrote",
        )
    return generations, result


def _rejudged_config(prior: GateResult, judge: JudgeSection, source: str) -> GateConfig:
    """The prior run's config with `judge` in place of every judge of its family."""
    from gate.plugins import judge_family

    family = judge_family(judge.name)
    raw = dict(prior.config)
    top = raw.get("judge") or {"name": "keyword"}
    if judge_family(str(top.get("name", "keyword"))) == family:
        raw["judge"] = judge.model_dump()
    suites = []
    for suite in raw.get("suites", [{}]):
        named = suite.get("judge")
        if named and judge_family(named["name"]) == family:
            suite = {**suite, "judge": judge.model_dump()}
        suites.append(suite)
    raw["suites"] = suites
    return validate(raw, source)


def rejudge(
    path: Path, judge: JudgeSection, *, log: Log = lambda _: None, use_cache: bool = True
) -> Outcome:
    """Judge the stored answers of every suite whose judge is of `judge`'s family again with
    `judge`; the other suites keep their calls. Returns the new result and records."""
    started = time.monotonic()
    generations, result_file = _source(path)
    prior = GateResult.read(result_file)
    config = _rejudged_config(prior, judge, str(result_file))
    records = read_answers(generations)
    plan = {suite.name: suite for suite in config.suite_plan()}
    again = [(role, r) for role, r in records if r.suite in plan and plan[r.suite].judge == judge]
    log(f"re-judging {len(again)} answers from {generations} with judge {judge.name}")
    with stage("config"):
        chosen = open_judge(config, judge, use_cache=use_cache)
    mark = time.monotonic()
    with stage(f"judge ({judge.name})"):
        calls = chosen.judge([(r.prompt.text, r.answer) for _, r in again])
    if len(calls) != len(again):
        raise RuntimeError(f"judge {judge.name!r} returned {len(calls)} calls for {len(again)}")
    new_call = {id(r): call for (_, r), call in zip(again, calls, strict=True)}
    infos = {"candidate": prior.candidate, "base": prior.base}
    subjects: dict[str, Subject] = {}
    for role, record in records:
        info = infos.get(role)
        if info is None:
            raise InputError(f"{generations}: answers of model {role!r}, which {result_file} lacks")
        subject = subjects.setdefault(role, Subject(role, info, None))
        call = new_call.get(id(record), record.judgement)
        subject.records.append(replace(record, judgement=call))
    evaluated: dict[str, list[Prompt]] = {}
    for _, record in records:
        found = evaluated.setdefault(record.suite, [])
        if record.prompt not in found:
            found.append(record.prompt)
    evaluated = {name: sorted(found, key=lambda p: p.id) for name, found in evaluated.items()}
    reason = f"re-judged {len(again)} stored answers with {judge.name}"
    total = sum(len(v) for v in evaluated.values())
    rounds = Rounds(total, evaluated, 1, False, reason)
    ordered = [subjects[role] for role in ("candidate", "base") if role in subjects]
    with stage("statistics"):
        concluded = conclude(
            config,
            "judge",
            {suite.name: suite.benchmark for suite in prior.suites},
            ordered,
            rounds,
            similarity=prior.similarity,
            seconds={"judge": time.monotonic() - mark},
            started=started,
        )
    decides = prior.verdict is not None
    return Outcome(concluded.result, ordered, config, concluded.measurements, decides=decides)
