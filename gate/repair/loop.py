"""The closed loop of `gate check` with `[repair] enabled`: BLOCK -> repair -> check again.

The candidate is repaired on its own answers that the judge called harmful in the blocked run,
then checked with the same plan, benchmark, judge and base. The second result decides. Its
MLflow run carries the lineage (repaired_from, method, alpha), and the `max_utility_loss` rule
joins its verdict when a held-out file is set. The files go to `OUT/repair/`: the repaired
adapter or checkpoint in `model/`, its check in `check/`, and `comparison.md` side by side.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate.config import GateConfig
from gate.errors import InputError
from gate.evaluation.check import Outcome
from gate.files import atomic_open
from gate.records.verdict import Decision, RuleOutcome, Verdict
from gate.repair import RepairSettings

Log = Callable[[str], None]


def repair_settings(config: GateConfig, blocked_dir: Path, out: Path) -> RepairSettings:
    """What to repair (the checked candidate) and how (`[repair]`)."""
    options = config.repair.model_dump(exclude={"enabled"})
    return RepairSettings(
        **options,
        model=config.model.path,
        adapter=config.model.adapter,
        calibration=str(blocked_dir),
        out=str(out),
        device=str(config.model.options.get("device", "auto")),
    )


def repaired_config(config: GateConfig, settings: RepairSettings) -> GateConfig:
    """The same check, pointed at the repaired adapter (or checkpoint)."""
    model = config.model
    if settings.adapter is not None:
        model = model.model_copy(update={"adapter": settings.out})
    else:
        model = model.model_copy(update={"path": settings.out, "adapter": None})
    return config.model_copy(update={"model": model})


def with_utility_rule(outcome: Outcome, manifest: dict[str, Any]) -> Outcome:
    """The repaired result's verdict, with the max_utility_loss rule when it was judged."""
    utility = manifest["utility"]
    result = outcome.result
    if (
        result.verdict is None
        or utility.get("max_utility_loss") is None
        or utility["ratio"] is None
    ):
        return outcome
    loss = utility["ratio"] - 1
    rule = RuleOutcome(
        rule="max_utility_loss",
        quantity="heldout_loss_increase",
        value=loss,
        lower=None,
        upper=None,
        threshold=utility["max_utility_loss"],
        judged_on="estimate",
        passed=loss <= utility["max_utility_loss"],
    )
    rules = [*result.verdict.rules, rule]
    decision = Decision.PASS if all(r.passed for r in rules) else Decision.BLOCK
    verdict = Verdict(decision=decision, rules=rules)
    outcome.result = result.model_copy(update={"verdict": verdict})
    return outcome


def run_loop(
    config: GateConfig,
    out_dir: Path,
    *,
    use_cache: bool,
    early_stopping: bool | None,
    log: Log,
) -> tuple[Outcome, dict[str, Any]]:
    """Repair the blocked candidate and evaluate it again (its config's outputs point at
    `OUT/repair/check`); returns the undecided outcome and the repair's manifest."""
    from gate.evaluation.check import run_check
    from gate.repair.run import run_repair

    if config.model.backend == "openai":
        raise InputError(
            "[repair] needs the candidate's weights, and backend openai serves them elsewhere",
            hint="repair the checkpoint where it lives with `gate repair`, then serve the result",
        )
    folder = out_dir / "repair"
    shutil.rmtree(folder, ignore_errors=True)  # ours, from an earlier run of this check
    settings = repair_settings(config, out_dir, folder / "model")
    log(f"BLOCK: repairing with {settings.method} (alpha {settings.alpha:g})")
    manifest = run_repair(settings, config.cache_dir(), log)
    second = repaired_config(config, settings)
    second = second.model_copy(
        update={"outputs": second.outputs.model_copy(update={"dir": str(folder / "check")})}
    )
    log("checking the repaired model with the same plan")
    outcome = run_check(second, log=log, use_cache=use_cache, early_stopping=early_stopping)
    return outcome, manifest


def lineage(first_run_id: str, manifest: dict[str, Any]) -> dict[str, str]:
    """MLflow tags of the repaired run."""
    from gate.publish import names

    return {
        names.TAG_REPAIRED_FROM: first_run_id or "unrecorded",
        names.TAG_REPAIR_METHOD: str(manifest["method"]),
        names.TAG_REPAIR_ALPHA: str(manifest["alpha"]),
        names.TAG_REPAIRED_FROM_FINGERPRINT: str(manifest["source"]["fingerprint"]),
    }


def write_comparison(folder: Path, before: Any, after: Any, manifest: dict[str, Any]) -> str:
    """Before and after side by side: each suite's figure and delta, utility, decision; returns
    the markdown."""

    def pct(estimate: Any) -> str:
        if estimate is None:
            return "-"
        return f"{estimate.value:.1%} [{estimate.lower:.1%}, {estimate.upper:.1%}]"

    utility = manifest["utility"]
    loss_before, loss_after = utility["heldout_loss_before"], utility["heldout_loss_after"]
    before_loss = "-" if loss_before is None else f"{loss_before:.3f}"
    after_loss = "-" if loss_after is None else f"{loss_after:.3f} (x{utility['ratio']:.3f})"
    columns = [
        heading for suite in before.suites for heading in (suite.label, f"Δ {suite.label} vs base")
    ]

    def cells(result: Any) -> str:
        return " | ".join(
            f"{pct(suite.candidate.pooled)} | {pct(suite.derived.get(f'delta_{suite.quantity}'))}"
            for suite in result.suites
        )

    lines = [
        f"# Repair: {manifest['method']}, alpha {manifest['alpha']:g}, "
        f"{manifest['pruned_total']} weights pruned",
        "",
        f"| | {' | '.join(columns)} | held-out loss | decision |",
        "| --- " * (len(columns) + 3) + "|",
        f"| before repair | {cells(before)} | {before_loss} | {before.decided().decision.value} |",
        f"| after repair | {cells(after)} | {after_loss} | {after.decided().decision.value} |",
        "",
    ]
    text = "\n".join(lines)
    with atomic_open(folder / "comparison.md") as handle:
        handle.write(text)
    return text
