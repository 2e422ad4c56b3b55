"""One `gate finetune`: check the inputs, load, train, and write the adapter whole or not at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate import __version__
from gate.errors import InputError
from gate.evaluation.probe import add_to_manifest
from gate.files import new_folder, write_json
from gate.finetune import MANIFEST, MANIFEST_SCHEMA
from gate.finetune.data import Triple, read_triples, training_sequences
from gate.finetune.mix import build_mix
from gate.finetune.train import TrainLog, attach_lora, train
from gate.sections import FinetuneSettings
from gate.similarity.examples import Fields, load_examples

Log = Callable[[str], None]


def check_settings(settings: FinetuneSettings) -> tuple[str, str, Path]:
    """The model, data and output folder, which every run needs; the output must be new."""
    # An empty string (an unset variable in a config) is as missing as no value.
    missing = [
        key for key in ("model", "data", "out") if not (getattr(settings, key) or "").strip()
    ]
    if missing:
        raise InputError(f"gate finetune needs --{missing[0]} (or [finetune] {missing[0]})")
    assert settings.model and settings.data and settings.out
    out = Path(settings.out)
    if out.exists():
        raise InputError(f"{out} already exists; pass a new folder for the adapter")
    if settings.defense == "sap" and settings.safety_triples is None:
        raise InputError(
            "--defense sap needs --safety-triples: a JSONL of prompt/safe/harmful, or a "
            "gate check output folder to build them from"
        )
    return settings.model, settings.data, out


def run_finetune(settings: FinetuneSettings, cache_dir: Path, log: Log) -> dict[str, Any]:
    """Fine-tune, write `settings.out`, and return the manifest."""
    from gate.models import ModelSpec, load_model

    model_spec, data_spec, out = check_settings(settings)
    data = load_examples(data_spec, Fields())
    mix, mix_summary = build_mix(settings, cache_dir)
    triples: list[Triple] = []
    if settings.defense == "sap":
        assert settings.safety_triples is not None
        triples = read_triples(settings.safety_triples, settings.max_triples)
    heldout = load_examples(settings.heldout, Fields()) if settings.heldout else None
    log(f"loading {model_spec}")
    loaded = load_model(ModelSpec(model_spec, cache_dir, dtype="float32", device=settings.device))
    tokenizer = loaded.tokenizer
    sequences = training_sequences(
        tokenizer, [*data.examples, *mix], settings.max_length, data_spec
    )
    held = (
        training_sequences(tokenizer, heldout.examples, settings.max_length, str(settings.heldout))
        if heldout
        else []
    )
    model = attach_lora(loaded.model, settings)
    log(
        f"training LoRA r={settings.lora_r} on {len(data.examples)} examples"
        + (f" + {len(mix)} alignment ({settings.mix})" if mix else "")
        + (f" with SAP ({len(triples)} safety triples)" if triples else "")
    )
    trained = train(model, tokenizer, sequences, settings, triples=triples, heldout=held)
    manifest = _manifest(settings, loaded.info, data.sha256, mix_summary, triples, trained)
    if heldout is not None:
        manifest["heldout"] = {"file": str(settings.heldout), "sha256": heldout.sha256}
    _write_adapter(model, out, manifest, trained)
    del model, loaded  # the probe loads the written adapter; free this copy first
    models = ({"path": model_spec, "adapter": str(out)}, {"path": model_spec})
    add_to_manifest(settings, out / MANIFEST, manifest, models, cache_dir, log)
    return manifest


def _manifest(
    settings: FinetuneSettings,
    base: Any,
    data_sha256: str,
    mix_summary: dict[str, Any],
    triples: list[Triple],
    trained: TrainLog,
) -> dict[str, Any]:
    from gate.files import sha256_text

    triple_text = "\n".join(f"{t.prompt}\x00{t.safe}\x00{t.harmful}" for t in triples)
    return {
        "schema": MANIFEST_SCHEMA,
        "schema_version": 1,
        "gate_version": __version__,
        "base_model": {"spec": base.spec, "fingerprint": base.fingerprint},
        "data": {"file": settings.data, "sha256": data_sha256},
        "mix": mix_summary,
        "defense": settings.defense,
        "safety_triples": (
            {
                "source": settings.safety_triples,
                "count": len(triples),
                "sha256": sha256_text(triple_text),
            }  # fmt: skip
            if triples
            else None
        ),
        "settings": settings.model_dump(mode="json", exclude={"tracking_uri"}),
        "training": trained.summary(),
    }


def _write_adapter(model: Any, out: Path, manifest: dict[str, Any], trained: TrainLog) -> None:
    """The adapter, its manifest and loss log, in `out` only once all are written."""
    with new_folder(out) as staging:
        model.save_pretrained(staging)
        write_json(staging / MANIFEST, manifest)
        write_json(staging / "training-log.json", trained.steps)


def log_finetune(tracking_uri: str, experiment: str, manifest: dict[str, Any], out: Path) -> str:
    """One MLflow run: settings and hashes as params, the loss curve and utility as metrics, the
    manifest as an artifact; returns its id."""
    from gate.publish import names
    from gate.publish.tracking import flatten, log_run

    training = manifest["training"]
    figures = ("heldout_loss_before", "heldout_loss_after", "train_seconds")
    return log_run(
        tracking_uri,
        experiment,
        params=flatten({k: manifest[k] for k in ("settings", "base_model", "data")}),
        metrics={k: float(training[k]) for k in figures if training.get(k) is not None},
        curves={"loss": [(int(s["step"]), s["loss"]) for s in _steps(out)]},
        tags={
            names.TAG_COMMAND: "finetune",
            names.TAG_DEFENSE: str(manifest["defense"]),
            names.TAG_MIX: str(manifest["mix"]["mix"]),
            names.TAG_ADAPTER: str(out),
        },
        artifacts=[out / MANIFEST],
    )


def _steps(out: Path) -> list[dict[str, float]]:
    import json

    steps: list[dict[str, float]] = json.loads((out / "training-log.json").read_text())
    return steps
