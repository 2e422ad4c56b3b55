"""Resumable steps, each one call into the gate's own library, with progress and an ETA.

A step is done when its output exists. The gate writes adapters, merged checkpoints and
selections whole or not at all, and a check is evaluated into a `.partial` folder renamed when
it finishes, so an interrupted run leaves no half-made output and the next run starts from the
first step that has none. Generations and embeddings are cached by the gate, so even a step
redone costs little.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("GATE_CACHE_DIR", Path.home() / ".cache" / "safety-gate"))


def log(line: str) -> None:
    print(f"    {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Step:
    name: str
    done: Path
    """Exists once the step has finished."""
    action: Callable[[], object]


def run_steps(
    steps: list[Step], timings: Path, after_each: Callable[[], object] = lambda: None
) -> None:
    """Run the steps not yet done, in order, printing progress and the time left."""
    # Steps that produce the same output (the random arm both downstream sets share) run once.
    unique = list({step.done: step for step in steps}.values())
    todo = [step for step in unique if not step.done.exists()]
    print(f"{len(unique)} steps, {len(unique) - len(todo)} done earlier", flush=True)
    recorded: dict[str, float] = json.loads(timings.read_text()) if timings.is_file() else {}
    started = time.monotonic()
    by_kind: dict[str, list[float]] = defaultdict(list)
    for number, step in enumerate(todo, 1):
        print(f"[{number}/{len(todo)}] {step.name}", flush=True)
        began = time.monotonic()
        step.action()
        seconds = time.monotonic() - began
        by_kind[_kind(step)].append(seconds)
        recorded[step.name] = round(seconds, 1)
        timings.write_text(json.dumps(recorded, indent=1) + "\n")
        after_each()
        print(f"[{number}/{len(todo)}] {step.name}: {seconds:.0f} s; "
              f"{time.monotonic() - started:.0f} s so far, about "
              f"{_left(todo[number:], by_kind):.0f} s left", flush=True)  # fmt: skip


def _label(out: Path) -> str:
    # The folder above too: an arm's alignment and its downstream fine-tune share a name.
    return f"{out.parent.name}/{out.name}"


def _kind(step: Step) -> str:
    return step.name.split()[0]


# Seconds per kind of step on a 2-core CPU, for the time left until a step of that kind has run.
FIRST_GUESS = {"finetune": 60.0, "check": 35.0, "repair": 60.0, "merge": 3.0}


def _left(rest: list[Step], by_kind: dict[str, list[float]]) -> float:
    """Each remaining step at the mean time of its kind so far (a fine-tune is not a select)."""
    means = {kind: sum(times) / len(times) for kind, times in by_kind.items()}
    return sum(means.get(_kind(step), FIRST_GUESS.get(_kind(step), 1.0)) for step in rest)


def finetune(out: Path, **settings: Any) -> Step:
    """`gate finetune` with these [finetune] settings."""

    def action() -> None:
        from gate.config import validate_as
        from gate.finetune.run import run_finetune
        from gate.sections import FinetuneSettings

        raw = {"device": "cpu", **settings, "out": str(out)}
        run_finetune(
            validate_as(FinetuneSettings, raw, "bench/reproduce", prefix="finetune"), CACHE, log
        )

    return Step(f"finetune {_label(out)}", out, action)


def merge(out: Path, model: str, adapter: Path) -> Step:
    """`gate merge-adapter`: the aligned arm as a checkpoint that later fine-tunes start from."""

    def action() -> None:
        from gate.models import ModelSpec
        from gate.models.convert import bake_adapter

        bake_adapter(
            ModelSpec(model, CACHE, adapter=str(adapter), dtype="float32", device="cpu"), out
        )

    return Step(f"merge {_label(out)}", out, action)


def select(out: Path, index: Path, finetune_data: Path, how: str, count: int, seed: int) -> Step:
    """`gate select --low/--high/--random K`: alignment examples for one arm."""

    def action() -> None:
        from gate.similarity.embed import EmbeddingCache
        from gate.similarity.examples import Fields, write_records
        from gate.similarity.index import load_index
        from gate.similarity.score import run_similarity
        from gate.similarity.select import select_rows

        loaded = load_index(index)
        result = run_similarity(
            loaded,
            str(finetune_data),
            fields=Fields(),
            cache_dir=CACHE,
            cache=EmbeddingCache(CACHE / "embeddings.sqlite"),
        )
        rows = select_rows(result, how, count, seed)
        write_records(out, [loaded.examples[row] for row in rows])

    return Step(f"select {_label(out)}", out, action)


def index(out: Path, alignment: Path, embedder: str, model: str | None = None) -> Step:
    """`gate index build`."""

    def action() -> None:
        from gate.models import ModelSpec
        from gate.similarity.embed import EmbeddingCache, make_embedder
        from gate.similarity.examples import Fields, load_examples
        from gate.similarity.index import build_index

        spec = ModelSpec(model, CACHE, dtype="float32", device="cpu") if model else None
        built = make_embedder(embedder, cache_dir=CACHE, model=spec)
        build_index(
            load_examples(str(alignment)),
            built,
            EmbeddingCache(CACHE / "embeddings.sqlite"),
            out=out,
            fields=Fields(),
            model=model,
        )

    return Step(f"index {_label(out)}", out, action)


def check(out: Path, overrides: dict[str, Any]) -> Step:
    """`gate eval` (a check without the verdict) with these config keys."""

    def action() -> None:
        from gate.config import load_config
        from gate.pipeline.commands import evaluate

        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        config = load_config(
            None, {**overrides, "outputs.dir": str(partial), "outputs.cache_dir": str(CACHE)}
        )
        evaluate(config, partial, log=log)
        os.replace(partial, out)

    return Step(f"check {_label(out)}", out, action)


def repair(out: Path, **settings: Any) -> Step:
    """`gate repair` with these settings."""

    def action() -> None:
        from gate.config import validate_as
        from gate.repair import RepairSettings
        from gate.repair.run import run_repair

        raw = {"device": "cpu", **settings, "out": str(out)}
        run_repair(validate_as(RepairSettings, raw, "bench/reproduce", prefix="repair"), CACHE, log)

    return Step(f"repair {_label(out)}", out, action)
