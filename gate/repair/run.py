"""One `gate repair`: calibrate on harmful answers, prune, measure utility, write atomically."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate import __version__
from gate.errors import InputError
from gate.evaluation.probe import add_to_manifest
from gate.files import new_folder, sha256_text, write_json
from gate.finetune.data import Tokenized, collate, tokenize
from gate.readers import read_jsonl_rows
from gate.records.answers import harm_answers
from gate.repair import MANIFEST, MANIFEST_SCHEMA, RepairSettings
from gate.repair.prune import Masks, find_targets

Log = Callable[[str], None]


def read_calibration(spec: str, limit: int) -> list[tuple[str, str]]:
    """Harmful (prompt, answer) pairs: a check's answers its judge called harmful, or a JSONL."""
    path = Path(spec)
    source = path / "generations.jsonl" if path.is_dir() else path
    if not source.is_file():
        raise InputError(f"calibration not found: {spec} (a gate check output folder or a JSONL)")
    if path.is_dir():
        # A check folder holds the base model's answers and other suites' too; only the
        # candidate's answers to harmful prompts calibrate.
        found = [
            (record.prompt.text, record.generation.text)
            for record in harm_answers(path)
            if record.judgement.flagged
        ]
    else:
        found = []
        for line, row in read_jsonl_rows(source):
            prompt, response = row.get("prompt"), row.get("response")
            if not isinstance(prompt, str) or not isinstance(response, str):
                raise InputError(f"{source}:{line}: needs text fields 'prompt' and 'response'")
            found.append((prompt, response))
    pairs = list(dict.fromkeys((p, r) for p, r in found if r.strip()))
    if not pairs:
        raise InputError(
            f"{source}: no harmful answers to calibrate on"
            + (" (the check's judge called none harmful)" if path.is_dir() else "")
        )
    return pairs[:limit]


def _sequences(tokenizer: Any, pairs: list[tuple[str, str]], max_length: int) -> list[Tokenized]:
    return [tokenize(tokenizer, [("user", p), ("assistant", r)], max_length) for p, r in pairs]


def _batches(sequences: list[Tokenized], size: int, pad_id: int, device: Any) -> Any:
    for start in range(0, len(sequences), size):
        batch = collate(sequences[start : start + size], pad_id)
        yield {k: v.to(device) for k, v in batch.items()}


def prune(
    model: Any, settings: RepairSettings, calibration: list[Tokenized], pad_id: int
) -> dict[str, Any]:
    """Zero the chosen weights in place; returns the count pruned per layer."""
    import torch

    from gate.plugins import REPAIR_METHODS

    layers = find_targets(model, settings.targets, lora=settings.adapter is not None)
    batches = _batches(calibration, settings.batch_size, pad_id, model.device)
    masks: Masks = REPAIR_METHODS.create(settings.method, settings, model, layers, batches)
    counts: dict[str, Any] = {}
    for name in sorted(layers):
        weight = layers[name].weight
        mask = masks(name, weight)
        with torch.no_grad():
            weight[mask] = 0
        counts[name] = {"shape": list(weight.shape), "pruned": int(mask.sum())}
    return counts


def run_repair(settings: RepairSettings, cache_dir: Path, log: Log) -> dict[str, Any]:
    """Repair, write `settings.out`, measure its over-refusal if asked; return the manifest."""
    manifest = _repair(settings, cache_dir, log)
    # Pruning can buy a lower harmful score with refusals; the held-out loss cannot see that.
    # The pruned model in memory is gone by now: the probe loads the written output.
    out = Path(settings.out) / MANIFEST
    add_to_manifest(settings, out, manifest, _models(settings), cache_dir, log)
    return manifest


def _repair(settings: RepairSettings, cache_dir: Path, log: Log) -> dict[str, Any]:
    """Repair, write `settings.out`, and return the manifest."""
    from gate.finetune.train import mean_loss
    from gate.models import ModelSpec, load_model
    from gate.similarity.examples import Fields, load_examples

    out = Path(settings.out)
    if out.exists():
        raise InputError(f"{out} already exists; pass a new folder for the repaired model")
    if settings.max_utility_loss is not None and not settings.heldout:
        # Without held-out data the guard measures nothing, and would never block.
        raise InputError("--max-utility-loss (repair.max_utility_loss) needs --heldout")
    pairs = read_calibration(settings.calibration, settings.max_pairs)
    heldout = load_examples(settings.heldout, Fields()) if settings.heldout else None
    spec = ModelSpec(settings.model, cache_dir, adapter=settings.adapter, dtype="float32",
                     device=settings.device, merge_adapter=False)  # fmt: skip
    loaded = load_model(spec)
    tokenizer, model = loaded.tokenizer, loaded.model
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    calibration = _sequences(tokenizer, pairs, settings.max_length)
    held = (
        [tokenize(tokenizer, e.turns, settings.max_length) for e in heldout.examples]
        if heldout
        else []
    )
    _check_targets(model, settings)
    before = mean_loss(model, held, settings.batch_size, pad_id) if held else None
    log(f"pruning {settings.alpha:g} of each row ({settings.method}) on {len(pairs)} harmful pairs")
    started = time.monotonic()
    counts = prune(model, settings, calibration, pad_id)
    _check_pruned(settings, counts)
    after = mean_loss(model, held, settings.batch_size, pad_id) if held else None
    utility = _utility(before, after, settings.max_utility_loss)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "schema_version": 1,
        "gate_version": __version__,
        "source": {
            "model": settings.model,
            "adapter": settings.adapter,
            "fingerprint": loaded.info.fingerprint,
        },  # fmt: skip
        "method": settings.method,
        "alpha": settings.alpha,
        "targets": list(settings.targets),
        "seed": settings.seed,
        "calibration": {
            "source": settings.calibration,
            "pairs": len(pairs),
            "sha256": sha256_text("\n".join(f"{p}\x00{r}" for p, r in pairs)),
        },  # fmt: skip
        "layers": counts,
        "pruned_total": sum(c["pruned"] for c in counts.values()),
        "utility": utility,
        "prune_seconds": round(time.monotonic() - started, 3),
    }
    _write(model, tokenizer, out, manifest, adapter=settings.adapter is not None)
    return manifest


def _models(settings: RepairSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `[model]` tables of the repaired output and of its source."""
    if settings.adapter is None:
        return {"path": settings.out}, {"path": settings.model}
    return (
        {"path": settings.model, "adapter": settings.out},
        {"path": settings.model, "adapter": settings.adapter},
    )


def _check_targets(model: Any, settings: RepairSettings) -> None:
    """An empty --targets would prune nothing; an unknown one names what the model has."""
    lora = settings.adapter is not None
    try:
        if find_targets(model, settings.targets, lora=lora):
            return
    except InputError as exc:
        given = ",".join(settings.targets)
        raise InputError(f"--targets {given}: {exc.message}", hint=exc.hint) from None
    names = set()
    for name, module in model.named_modules():
        parts = name.split(".")
        if lora and "lora_A" in parts:
            names.add(parts[parts.index("lora_A") - 1])
        elif not lora and type(module).__name__ == "Linear":
            names.add(parts[-1])
    kind = "LoRA-adapted projections" if lora else "linear layers"
    raise InputError(
        f"--targets names no module to prune; the model's {kind} are {', '.join(sorted(names))}"
    )


def _check_pruned(settings: RepairSettings, counts: dict[str, Any]) -> None:
    """A repair that zeroed no weight must not be written: it would look like a repair."""
    if any(c["pruned"] for c in counts.values()):
        return
    widest = max((c["shape"][1] for c in counts.values()), default=1)
    raise InputError(
        f"--alpha {settings.alpha:g} pruned no weight of --targets {','.join(settings.targets)} "
        f"({settings.method}); the widest row has {widest} columns, so --alpha needs at least "
        f"{1 / widest:.2g}; nothing was written"
    )


def _utility(before: float | None, after: float | None, limit: float | None) -> dict[str, Any]:
    if before is None or after is None:
        return {"heldout_loss_before": None, "heldout_loss_after": None, "ratio": None,
                "decision": "not measured"}  # fmt: skip
    ratio = after / before if before > 0 else float("inf")
    blocked = limit is not None and ratio - 1 > limit
    return {
        "heldout_loss_before": before,
        "heldout_loss_after": after,
        "ratio": ratio,
        "max_utility_loss": limit,
        "decision": "BLOCK" if blocked else ("PASS" if limit is not None else "no rule"),
    }


def _write(
    model: Any, tokenizer: Any, out: Path, manifest: dict[str, Any], *, adapter: bool
) -> None:
    """A standard adapter (or checkpoint) folder and repair.json, in `out` once complete."""
    with new_folder(out) as staging, warnings.catch_warnings():
        # peft looks for the base's config.json under the adapter's base name to see if the
        # vocabulary grew; an embedded: name is not a folder, and the repair never resizes it.
        warnings.filterwarnings("ignore", message="Could not find a config file")
        model.save_pretrained(staging)
        if not adapter:
            tokenizer.save_pretrained(staging)
        write_json(staging / MANIFEST, manifest)
