"""`openai`: embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (vLLM, TEI, a fleet).

Texts go in batches of `batch_size`, up to `max_concurrency` batches in flight, each call with
the endpoint retries of gate/endpoint.py. Rows come back L2-normalised float32, in input order.

What the vectors mean depends on the served weights, so the embedder's id (kept in the index
manifest and in every embedding cache key) carries a fingerprint: declared with `fingerprint`,
or hashed from `weights`, a folder holding the served checkpoint. With neither, the endpoint and
model name are all the gate knows: the id says so, and no vector is cached, since the same name
may serve other weights tomorrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from gate.config import validate_as
from gate.endpoint import Endpoint, EndpointOptions, read_api_key
from gate.errors import InfraError, InputError
from gate.files import redact_url, sha256_text
from gate.models import ModelSpec
from gate.models.resolve import FileHashes, fingerprint, fingerprint_folder
from gate.similarity.examples import Example


class OpenAIEmbedderOptions(EndpointOptions):
    """`--embedder-option` keys of the `openai` embedder."""

    served_model: str
    """The embedding model's name on the server (`--served-model-name` for vLLM)."""
    fingerprint: str | None = None
    """sha256 of the served weights, when the user knows it."""
    weights: str | None = None
    """A folder holding the served checkpoint: its files are hashed for the fingerprint."""
    batch_size: int = Field(default=64, ge=1, le=2048)
    """Texts per request."""
    truncate_prompt_tokens: int | None = Field(default=None, ge=1)
    """Sent as vLLM's extra field of that name: texts are cut to this many tokens server-side
    (without it, vLLM rejects a text longer than the model takes)."""


FingerprintKind = Literal["declared", "hashed", "endpoint-name"]


def served_fingerprint(options: OpenAIEmbedderOptions, cache_dir: Path) -> tuple[str, str]:
    """(fingerprint, how it was found) for the served embedding model."""
    if options.fingerprint:
        return options.fingerprint, "declared"
    if options.weights:
        folder = Path(options.weights)
        if not folder.is_dir():
            raise InputError(f"--embedder-option weights={options.weights}: no such folder")
        hashes = FileHashes(cache_dir)
        found = fingerprint(fingerprint_folder(folder, "model", hashes))
        hashes.save()
        return found, "hashed"
    return sha256_text(f"{options.base_url}\n{options.served_model}"), "endpoint-name"


class OpenAIEmbedder:
    """Vectors from an endpoint; one request per batch, several batches at once."""

    name = "openai"

    def __init__(self, options: OpenAIEmbedderOptions, cache_dir: Path) -> None:
        self.options = options
        self.endpoint = Endpoint(options, api_key=read_api_key(options))
        found, self.fingerprint_kind = served_fingerprint(options, cache_dir)
        self.id = f"openai:{options.served_model}:{self.fingerprint_kind}:{found[:16]}"
        self.cacheable = self.fingerprint_kind != "endpoint-name"
        self.endpoint.check_serves(options.served_model)
        self.dim = len(self._batch(["dimension probe"])[0])

    def text_of(self, example: Example) -> str:
        return example.text

    def manifest_options(self) -> dict[str, Any]:
        """What a later run needs to reopen this embedder; the URL without credentials."""
        kept = self.options.model_dump(exclude_defaults=True)
        return kept | {"base_url": redact_url(self.options.base_url)}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        size = self.options.batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        if not batches:
            return np.zeros((0, self.dim), np.float32)
        with ThreadPoolExecutor(max_workers=self.options.max_concurrency) as pool:
            rows = list(pool.map(self._batch, batches))
        vectors = np.concatenate(rows).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"model": self.options.served_model, "input": texts}
        if self.options.truncate_prompt_tokens:
            body["truncate_prompt_tokens"] = self.options.truncate_prompt_tokens
        answer = self.endpoint.call("POST", "/embeddings", body)
        try:
            data = sorted(answer["data"], key=lambda row: int(row["index"]))
            vectors = np.asarray([row["embedding"] for row in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise InfraError(
                f"endpoint {self.endpoint.where} answered /embeddings without vectors ({exc})"
            ) from None
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise InfraError(
                f"endpoint {self.endpoint.where} returned {len(vectors)} vectors for "
                f"{len(texts)} texts"
            )
        if hasattr(self, "dim") and vectors.shape[1] != self.dim:
            raise InfraError(
                f"endpoint {self.endpoint.where} returned vectors of dimension "
                f"{vectors.shape[1]}, earlier {self.dim}: it now serves another model"
            )
        return vectors


def open_openai_embedder(
    cache_dir: Path,
    model: ModelSpec | None,
    batch_size: int | None,
    options: dict[str, Any] | None = None,
) -> OpenAIEmbedder:
    """The endpoint embedder, checked to serve the model before any text is sent."""
    if model is not None:
        raise InputError("--model is only used by the hidden-state embedder")
    settings = dict(options or {})
    if batch_size is not None:
        settings.setdefault("batch_size", batch_size)
    if "base_url" not in settings or "served_model" not in settings:
        raise InputError(
            "the openai embedder needs --embedder-option base_url=URL and "
            "--embedder-option served_model=NAME"
        )
    validated = validate_as(OpenAIEmbedderOptions, settings, "--embedder-option")
    return OpenAIEmbedder(validated, cache_dir)
