"""`gate repair`: Antidote one-shot pruning (or random pruning, its baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gate.cli.app import cli
from gate.cli.options import cache_options, over_refusal_line, over_refusal_options, reject_blank
from gate.errors import ExitCode


@cli.command("repair")
@click.option("--model", required=True, help="The checkpoint (the base, with --adapter).")
@click.option("--adapter", help="A PEFT adapter: its LoRA matrices are pruned, the base kept.")
@click.option(
    "--calibration",
    required=True,
    help="A gate check output folder (its answers judged harmful) or a JSONL of prompt/response.",
)
@click.option("--out", required=True, help="Folder for the repaired adapter or checkpoint.")
@click.option("--alpha", type=float, default=0.1, show_default=True, help="Share of each row.")
@click.option(
    "--method",
    default="antidote",
    show_default=True,
    help="A repair method: antidote, random (the baseline), or one `gate plugins` lists.",
)
@click.option(
    "--targets",
    default="q_proj,k_proj,v_proj",
    show_default=True,
    help="Projections to prune, comma-separated.",
)
@click.option("--heldout", help="Benign JSONL whose loss before and after is the utility guard.")
@click.option(
    "--max-utility-loss",
    type=float,
    help="Exit 1 (BLOCK) when held-out loss grows by more than this fraction.",
)
@click.option(
    "--max-pairs", type=int, default=128, show_default=True, help="Calibration pairs used at most."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-length", type=int, default=256, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--device", default="auto", show_default=True)
@over_refusal_options
@cache_options
def repair_command(targets: str, cache_dir: Path, **flags: Any) -> None:
    """Prune the weights most active on harmful answers (Antidote), then check the result.

    Writes a standard adapter (with --adapter) or checkpoint folder and repair.json. Re-check it
    with `gate check --model M --adapter OUT --base M` (or `--model OUT`).
    """
    from gate.config import validate_as
    from gate.repair import RepairSettings
    from gate.repair.run import run_repair

    reject_blank(flags)  # a blank --targets is reported by the repair, with the model's modules
    raw = {k: v for k, v in flags.items() if v is not None}
    raw["targets"] = [t.strip() for t in targets.split(",") if t.strip()]
    settings = validate_as(RepairSettings, raw, "gate repair", prefix="repair")
    manifest = run_repair(settings, cache_dir, lambda line: click.echo(line, err=True))
    utility = manifest["utility"]
    line = (
        f"wrote {settings.out}: {manifest['pruned_total']} weights pruned in "
        f"{len(manifest['layers'])} layers ({settings.method}, alpha {settings.alpha:g})"
    )
    if utility["ratio"] is not None:
        line += (
            f"; held-out loss {utility['heldout_loss_before']:.3f} -> "
            f"{utility['heldout_loss_after']:.3f} (x{utility['ratio']:.3f})"
        )
    click.echo(line + over_refusal_line(manifest))
    if utility["decision"] == "BLOCK":
        click.echo(
            f"BLOCK: the repair costs more utility than max_utility_loss="
            f"{settings.max_utility_loss:g}",
            err=True,
        )
        raise SystemExit(int(ExitCode.BLOCK))
