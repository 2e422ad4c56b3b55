"""`gate judge`: judge stored generations again with another judge, without regenerating.

The source is a folder written by `gate eval`, `gate check` or `gate merge` (its result.json
says which models answered, on which benchmark, under which config) or its generations.jsonl.
Every answer is judged again; the statistics, and the verdict when the source decided one, are
computed as for an unsharded run over the prompts the source evaluated (no early stopping: the
source's stopping looks were taken with the other judge's calls).
"""

from __future__ import annotations

import time
from pathlib import Path

from gate.config import JudgeSection, validate
from gate.errors import InputError, stage
from gate.evaluation.check import Outcome
from gate.evaluation.conclude import conclude
from gate.evaluation.engine import Log, Rounds, Subject, open_judge
from gate.records import GENERATIONS_FILE, RESULT_FILE
from gate.records.answers import JudgedGeneration, read_answers
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


def rejudge(
    path: Path, judge: JudgeSection, *, log: Log = lambda _: None, use_cache: bool = True
) -> Outcome:
    """Judge every stored answer again with `judge`; returns the new result and records."""
    started = time.monotonic()
    generations, result_file = _source(path)
    prior = GateResult.read(result_file)
    config = validate({**prior.config, "judge": judge.model_dump()}, str(result_file))
    records = read_answers(generations)
    log(f"re-judging {len(records)} answers from {generations} with judge {judge.name}")
    with stage("config"):
        chosen = open_judge(config, use_cache=use_cache)
    mark = time.monotonic()
    with stage(f"judge ({judge.name})"):
        calls = chosen.judge([(r.prompt.text, r.generation.text) for _, r in records])
    if len(calls) != len(records):
        raise RuntimeError(f"judge {judge.name!r} returned {len(calls)} calls for {len(records)}")
    infos = {"candidate": prior.candidate, "base": prior.base}
    subjects: dict[str, Subject] = {}
    for (role, record), call in zip(records, calls, strict=True):
        info = infos.get(role)
        if info is None:
            raise InputError(f"{generations}: answers of model {role!r}, which {result_file} lacks")
        subject = subjects.setdefault(role, Subject(role, info, None))
        subject.records.append(JudgedGeneration(record.prompt, record.generation, call))
    prompts: dict[str, Prompt] = {r.prompt.id: r.prompt for _, r in records}
    evaluated = sorted(prompts.values(), key=lambda p: p.id)
    reason = f"re-judged {len(records)} stored answers with {judge.name}"
    rounds = Rounds(len(evaluated), evaluated, 1, False, reason)
    ordered = [subjects[role] for role in ("candidate", "base") if role in subjects]
    with stage("statistics"):
        result = conclude(
            config,
            "judge",
            prior.benchmark,
            ordered,
            rounds,
            similarity=prior.similarity,
            seconds={"judge": time.monotonic() - mark},
            started=started,
            decides=prior.verdict is not None,
        )
    return Outcome(result, ordered, config)
