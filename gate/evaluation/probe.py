"""How often a model a command produced refuses benign prompts, against the model it came from.

`gate repair --over-refusal BENCH` and `gate finetune --over-refusal BENCH` run this on their
output: both can lower a harmful score by teaching the model to refuse, which a held-out loss
does not show. It is the over-refusal suite of `gate check`, run once, greedy, on the output
(the candidate) and its source (the base), so the two rates are paired by prompt.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate.config import validate
from gate.evaluation.check import run_eval
from gate.files import write_json
from gate.sections import OverRefusalProbe

KIND = "over_refusal"


def over_refusal(
    output: dict[str, Any],
    source: dict[str, Any],
    benchmark: str,
    *,
    limit: int | None,
    cache_dir: Path,
    log: Callable[[str], None],
    max_new_tokens: int = 128,
) -> dict[str, Any]:
    """The over-refusal rate of `output` and of `source` (each a `[model]` table), with the
    paired difference, on `benchmark`; for the command's manifest."""
    with tempfile.TemporaryDirectory(prefix="gate-over-refusal-") as scratch:
        raw = {
            "model": output,
            "base": source,
            "suites": [{"kind": KIND, "benchmark": {"name": benchmark, "limit": limit}}],
            "sampling": {"temperatures": [0.0], "seeds": [0], "max_new_tokens": max_new_tokens},
            "tracking": {"enabled": False},
            "outputs": {"dir": scratch, "cache_dir": str(cache_dir)},
        }
        config = validate(raw, f"--over-refusal {benchmark}")
        log(f"over-refusal of the output and its source on {benchmark}")
        result = run_eval(config, log=log).result
    suite = result.suite(KIND)
    if suite is None or suite.base is None:  # it always runs the suite, with the source as base
        raise RuntimeError("the over-refusal probe measured nothing")
    delta = suite.derived.get(f"delta_{suite.quantity}")
    return {
        "benchmark": suite.benchmark.name,
        "benchmark_sha256": suite.benchmark.sha256,
        "prompts": suite.benchmark.prompts,
        "judge": suite.judge.name,
        "max_new_tokens": max_new_tokens,
        "output": suite.candidate.pooled.model_dump(mode="json"),
        "source": suite.base.pooled.model_dump(mode="json"),
        "delta": delta.model_dump(mode="json") if delta else None,
    }


def describe(figures: dict[str, Any]) -> str:
    """`over-refusal 0.10 -> 0.35 [0.28, 0.42] on benign-edgy (60 prompts)`."""
    after, before = figures["output"], figures["source"]
    return (
        f"over-refusal {before['value']:.3f} -> {after['value']:.3f} "
        f"[{after['lower']:.3f}, {after['upper']:.3f}] on {figures['benchmark']} "
        f"({figures['prompts']} prompts, judge {figures['judge']})"
    )


def add_to_manifest(
    probe: OverRefusalProbe,
    manifest_path: Path,
    manifest: dict[str, Any],
    models: tuple[dict[str, Any], dict[str, Any]],
    cache_dir: Path,
    log: Callable[[str], None],
) -> None:
    """Measure (output, source) as `probe` asks and rewrite the manifest with the figures;
    nothing when it asks for nothing."""
    if probe.over_refusal is None:
        return
    output, source = models
    figures = over_refusal(
        output,
        source,
        probe.over_refusal,
        limit=probe.over_refusal_limit,
        cache_dir=cache_dir,
        log=log,
    )
    manifest["over_refusal"] = figures
    write_json(manifest_path, manifest)
    log(describe(figures))
