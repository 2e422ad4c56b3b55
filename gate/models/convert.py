"""Write standard checkpoints: a GGUF file converted once, a shipped adapter merged into its base,
or a model the gate changed.

A standard folder is what `save_pretrained` writes: `architectures` in config.json and tied
embeddings stored once, under the input embedding, as transformers stores them. vLLM resolves the
model class from `architectures`; without it, it loaded the bare `LlamaModel` and answered every
prompt with an empty string.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from gate.files import new_folder

# Bumped when the converted layout changes, so folders written by an older gate are redone.
CONVERSION_FORMAT = 2


def write_checkpoint(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save `model` and `tokenizer` as a standard safetensors folder, all at once or not at all."""
    config = model.config
    # De-quantised weights are plain tensors; a GGUF quantization_config left in the config
    # would make transformers try to re-quantise them on load.
    if getattr(config, "quantization_config", None) is not None:
        del config.quantization_config
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    # The target is keyed by the source's hash: one another process finished first is the same.
    with new_folder(target, exist_ok=True) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
    return target


def quiet_transformers() -> None:
    """Silence transformers' warnings and progress bars; the gate reports progress itself."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # peft asks transformers a deprecated question whenever it wraps a model; nothing to act on.
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )


def _announce(what: str, target: Path) -> None:
    """Say that a one-off, cached step is starting: it takes seconds and happens once."""
    quiet_transformers()
    print(f"{what} (once; cached in {target})", file=sys.stderr, flush=True)


def convert_gguf(gguf_path: Path, digest: str, cache_dir: Path) -> Path:
    """De-quantise a GGUF file once into a standard folder keyed by the file's sha256."""
    target = cache_dir / f"gguf-v{CONVERSION_FORMAT}" / digest
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _announce(f"converting {gguf_path.name} to safetensors", target)
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    return write_checkpoint(model, tokenizer, target)


def merge_adapter(base: Path, adapter: Path, digest: str, cache_dir: Path) -> Path:
    """Merge a LoRA adapter into its base folder once, into a folder keyed by both their hashes.

    A merged folder is a plain checkpoint: every backend loads it, and a user's own adapter (a
    fine-tune of the aligned model) applies on top of it like on any other model.
    """
    target = cache_dir / f"merged-v{CONVERSION_FORMAT}" / digest
    if (target / "config.json").is_file():
        return target
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _announce(f"merging the {adapter.name} adapter into its base", target)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return write_checkpoint(merged, tokenizer, target)


def bake_adapter(spec: Any, out: Path) -> dict[str, Any]:
    """Load `spec` (a ModelSpec with an adapter), merge the adapter, and write a standard folder
    to `out`, which must not exist, with merged.json naming what went in; all or nothing."""
    import json

    from gate.errors import InputError
    from gate.models import load_model

    if out.exists():  # before loading: a typo should not cost a model load
        raise InputError(f"{out} already exists; pass a new folder for the merged checkpoint")
    if not spec.adapter:
        raise InputError("merging needs an adapter")
    loaded = load_model(spec)
    info = loaded.info
    record = {"base": info.spec, "adapter": spec.adapter, "fingerprint": info.fingerprint,
              "files": info.files}  # fmt: skip
    with new_folder(out) as staging:
        write_checkpoint(loaded.model, loaded.tokenizer, staging / "model")
        for item in (staging / "model").iterdir():
            item.rename(staging / item.name)
        (staging / "model").rmdir()
        (staging / "merged.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
