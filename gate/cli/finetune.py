"""`gate finetune`: LoRA with safety kept in (a low-similarity alignment mix, SAP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gate.cli.app import cli
from gate.cli.options import (
    cache_options,
    csv_names,
    csv_numbers,
    over_refusal_line,
    over_refusal_options,
    reject_blank,
)


@cli.command("finetune")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A gate.toml whose [finetune] table to start from; flags override it.",
)
@click.option("--model", help="Base checkpoint: folder, .gguf, hub id or embedded:NAME.")
@click.option("--data", help="Fine-tuning JSONL/CSV (prompt/response or messages).")
@click.option("--out", help="Adapter folder to create (must not exist).")
@click.option("--alignment", help="Alignment JSONL the index was built from (checked).")
@click.option("--index", help="`gate index build` folder over the alignment data.")
@click.option(
    "--mix",
    type=click.Choice(["none", "low", "high", "random"]),
    help="Alignment examples to mix in, by similarity to the data [default: none].",
)
@click.option("--mix-size", type=int, help="How many alignment examples to mix in.")
@click.option("--defense", type=click.Choice(["none", "sap"]), help="[default: none]")
@click.option("--safety-triples", help="SAP's triples: JSONL or a gate check output folder.")
@click.option("--heldout", help="Benign held-out JSONL whose loss is reported before and after.")
@click.option("--epochs", type=int)
@click.option("--lr", type=float, help="LoRA learning rate [default: 1e-4].")
@click.option("--lora-r", type=int, help="[default: 8]")
@click.option("--lora-alpha", type=int, help="[default: 16]")
@click.option(
    "--targets",
    callback=csv_names,
    help="LoRA target modules, comma-separated [default: q_proj,v_proj].",
)
@click.option("--batch-size", type=int, help="[default: 4]")
@click.option("--max-length", type=int, help="Tokens per example [default: 256].")
@click.option("--seed", type=int, help="[default: 0]")
@click.option(
    "--probe-layers",
    callback=csv_numbers(int),
    help="SAP probe layers, comma-separated [default: 3,9].",
)
@click.option("--probe-lr", type=float, help="[default: 0.05]")
@click.option("--grad-rate", type=float, help="[default: 2e-5]")
@click.option("--device", help="auto, cpu, cuda or cuda:N [default: auto].")
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking URI; the run is logged when one is given [env: MLFLOW_TRACKING_URI].",
)
@over_refusal_options
@cache_options
def finetune_command(
    config_path: Path | None, targets: list[str] | None, probe_layers: list[int] | None,
    cache_dir: Path,
    **flags: Any,
) -> None:  # fmt: skip
    """Fine-tune a LoRA adapter with safety kept in; check it after with `gate check --adapter`.

    `--mix low --mix-size K` trains on the K alignment examples least similar to the data beside
    it (Hsiung et al. 2025); `--defense sap` adds safety-aware probing (Wu et al. 2025).
    """
    from gate.config import validate_as
    from gate.finetune.run import log_finetune, run_finetune
    from gate.sections import FinetuneSettings
    from gate.tomlfile import read_toml

    reject_blank(flags)
    raw: dict[str, Any] = dict(read_toml(config_path).get("finetune", {})) if config_path else {}
    # every other flag is named as its settings key
    raw |= {key: value for key, value in flags.items() if value is not None}
    if targets is not None:
        raw["target_modules"] = targets
    if probe_layers is not None:
        raw["probe_layers"] = probe_layers
    source = str(config_path) if config_path else "gate finetune"
    settings = validate_as(FinetuneSettings, raw, source, prefix="finetune")
    manifest = run_finetune(settings, cache_dir, lambda line: click.echo(line, err=True))
    out = Path(str(settings.out))
    training = manifest["training"]
    click.echo(
        f"wrote {out}: {training['steps']} steps, loss {training['first_loss']:.3f} -> "
        f"{training['last_loss']:.3f} in {training['train_seconds']:.0f} s"
        + (
            f"; held-out loss {training['heldout_loss_before']:.3f} -> "
            f"{training['heldout_loss_after']:.3f}"
            if training["heldout_loss_after"] is not None
            else ""
        )
        + over_refusal_line(manifest)
    )
    if settings.tracking_uri:
        run_id = log_finetune(settings.tracking_uri, settings.experiment, manifest, out)
        click.echo(f"logged MLflow run {run_id}", err=True)


@cli.command("merge-adapter")
@click.option("--model", required=True, help="Base checkpoint: folder, .gguf, hub id or embedded:.")
@click.option("--adapter", required=True, help="The PEFT adapter to merge into it.")
@click.option("--out", required=True, help="Folder for the merged checkpoint (must not exist).")
@cache_options
def merge_adapter_command(model: str, adapter: str, out: str, cache_dir: Path) -> None:
    """Merge a LoRA adapter into its base and write a standard checkpoint folder.

    The folder loads like any model (every backend, `gate check --model OUT`), and a new adapter
    trains on top of it (`gate finetune --model OUT`): how an aligned checkpoint is fine-tuned
    again. merged.json records the base's and the adapter's fingerprints.
    """
    from gate.models import ModelSpec
    from gate.models.convert import bake_adapter

    reject_blank({"model": model, "adapter": adapter, "out": out})
    spec = ModelSpec(model, cache_dir, adapter=adapter, dtype="float32", device="cpu")
    record = bake_adapter(spec, Path(out))
    click.echo(
        f"wrote {out}: {adapter} merged into {model} (fingerprint {record['fingerprint'][:12]})"
    )
