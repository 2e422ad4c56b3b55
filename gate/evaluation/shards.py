"""Shards: `gate eval --config --shard i/n` runs a slice of the plan; `gate merge` decides.

A GitHub Actions matrix runs n shards on n runners; each writes `shard.json` and its judged
generations. The merge refuses shards of different configs, models or benchmarks, and missing or
repeated shards, then computes the same statistics and verdict one unsharded run would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from gate.config import GateConfig, validate
from gate.errors import InputError, stage
from gate.evaluation.check import (
    Outcome,
    benchmark_infos,
    load_suites,
    open_judges,
    similarity_of,
    suite_runs,
)
from gate.evaluation.conclude import conclude
from gate.evaluation.engine import (
    Log,
    Rounds,
    Subject,
    open_subjects,
    run_rounds,
)
from gate.evaluation.plan import plan_samplings, shard_prompts
from gate.files import atomic_open, write_jsonl
from gate.generate import Sampling
from gate.models import ModelInfo
from gate.records import GENERATIONS_FILE, SHARD_FILE
from gate.records.answers import JudgedGeneration, generation_rows, read_answers
from gate.records.prompts import BenchmarkInfo, Prompt
from gate.versioned import Versioned


class ShardResult(Versioned):
    """What one shard evaluated; its judged generations are in generations.jsonl beside it."""

    schema_name: str = Field(default="safety-gate/shard", alias="schema")
    schema_version: int = 2
    config: dict[str, Any]
    config_sha256: str
    candidate: ModelInfo
    base: ModelInfo | None
    benchmarks: dict[str, BenchmarkInfo]
    """Each suite's benchmark, by suite name."""
    index: int
    """1-based."""
    count: int
    prompt_ids: dict[str, list[str]]
    """Per suite, the prompts this shard evaluated."""
    cached: int


def run_shard(
    config: GateConfig,
    index: int,
    count: int,
    out: Path,
    *,
    log: Log,
    use_cache: bool = True,
) -> ShardResult:
    """Evaluate one shard's prompts under the full plan (no early stopping) and write it."""
    suites = config.suite_plan()
    judges = open_judges(config, suites, use_cache=use_cache)
    benchmarks = load_suites(config, log)
    sliced = {name: shard_prompts(b.prompts, index, count) for name, b in benchmarks.items()}
    runs = suite_runs(suites, sliced, judges)
    log(f"shard {index}/{count}: {sum(len(r.prompts) for r in runs)} prompts")
    subjects = open_subjects(config, use_cache=use_cache)
    run_rounds(subjects, runs, plan_samplings(config.sampling), log=log)
    shard = ShardResult(
        config=config.model_dump(mode="json"),
        config_sha256=config.sha256(),
        candidate=subjects[0].info,
        base=subjects[1].info if len(subjects) > 1 else None,
        benchmarks=benchmark_infos(suites, benchmarks),
        index=index,
        count=count,
        prompt_ids={run.name: [p.id for p in run.prompts] for run in runs},
        cached=sum(s.cached for s in subjects),
    )
    write_jsonl(out / GENERATIONS_FILE, generation_rows([(s.role, s.records) for s in subjects]))
    with atomic_open(out / SHARD_FILE) as handle:  # last: its presence means the shard finished
        handle.write(shard.to_json())
    return shard


def read_shard(folder: Path) -> tuple[ShardResult, dict[str, list[JudgedGeneration]]]:
    """A shard's record and its judged generations by model role."""
    if not (folder / SHARD_FILE).is_file():
        raise InputError(f"{folder} holds no finished shard (no {SHARD_FILE})")
    shard = ShardResult.read(folder / SHARD_FILE)
    by_role: dict[str, list[JudgedGeneration]] = {"candidate": [], "base": []}
    for role, record in read_answers(folder / GENERATIONS_FILE):
        by_role.setdefault(role, []).append(record)
    return shard, by_role


def check_complete(
    folder: Path,
    shard: ShardResult,
    role: str,
    records: Sequence[JudgedGeneration],
    samplings: Sequence[Sampling],
) -> None:
    """Every prompt of the shard answered once under every sampling setting, no more, no less."""
    expected = {
        (suite, prompt_id, sampling)
        for suite, ids in shard.prompt_ids.items()
        for prompt_id in ids
        for sampling in samplings
    }
    found = [(r.suite, r.prompt.id, r.generation.sampling) for r in records]
    if len(found) != len(set(found)) or set(found) != expected:
        missing, extra = len(expected - set(found)), len(set(found) - expected)
        repeated = len(found) - len(set(found))
        raise InputError(
            f"{folder / GENERATIONS_FILE}: the {role} answers do not match the shard's plan "
            f"({missing} missing, {extra} unexpected, {repeated} repeated)"
        )


def _same(shards: Sequence[ShardResult], what: str, value: Callable[[ShardResult], Any]) -> None:
    values = {json.dumps(value(s), sort_keys=True, default=str) for s in shards}
    if len(values) > 1:
        raise InputError(f"cannot merge shards of different {what}")


def merge(folders: Sequence[Path], *, log: Log) -> Outcome:
    """Check the shards belong together, then decide over all of them."""
    started = time.monotonic()
    loaded = [read_shard(folder) for folder in folders]
    shards = [shard for shard, _ in loaded]
    _same(shards, "configs", lambda s: s.config_sha256)
    _same(shards, "candidate models", lambda s: s.candidate.fingerprint)
    _same(shards, "base models", lambda s: s.base.fingerprint if s.base else None)
    _same(
        shards,
        "benchmarks",
        lambda s: {n: (b.sha256, b.selection_sha256) for n, b in s.benchmarks.items()},
    )
    _same(shards, "shard counts", lambda s: s.count)
    count = shards[0].count
    indices = sorted(s.index for s in shards)
    if indices != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(indices))
        repeated = sorted({i for i in indices if indices.count(i) > 1})
        problem = f"missing {missing}" if missing else f"repeated {repeated}"
        raise InputError(f"shards of {count} do not add up: {problem}")
    config = validate(shards[0].config, str(folders[0] / SHARD_FILE))
    subjects = [Subject("candidate", shards[0].candidate, None)]
    if shards[0].base is not None:
        subjects.append(Subject("base", shards[0].base, None))
    prompts: dict[tuple[str, str], Prompt] = {}
    samplings = plan_samplings(config.sampling)
    for (shard, records), folder in zip(loaded, folders, strict=True):
        for subject in subjects:
            check_complete(folder, shard, subject.role, records[subject.role], samplings)
            subject.records.extend(records[subject.role])
        for record in records["candidate"]:
            prompts[(record.suite, record.prompt.id)] = record.prompt
    expected = sum(b.prompts for b in shards[0].benchmarks.values())
    if len(prompts) != expected:
        raise InputError(
            f"the shards hold {len(prompts)} prompts; the benchmark selections have {expected}"
        )
    log(f"merged {count} shards: {len(prompts)} prompts")
    similarity = similarity_of(config, use_cache=True)
    evaluated = {
        name: sorted((p for (s, _), p in prompts.items() if s == name), key=lambda p: p.id)
        for name in shards[0].benchmarks
    }
    rounds = Rounds(len(prompts), evaluated, count, False, f"merged {count} shards")
    with stage("statistics"):
        concluded = conclude(
            config,
            "merge",
            shards[0].benchmarks,
            subjects,
            rounds,
            similarity=similarity,
            seconds={},
            started=started,
        )
    return Outcome(concluded.result, subjects, config, concluded.measurements)
