"""FAISS index over the alignment embeddings, saved with a manifest and checksums.

An index folder holds `index.faiss`, `alignment.jsonl` (the examples, row i = vector i) and
`manifest.json`. Loading verifies both files against the manifest before FAISS sees them, so a
corrupted, truncated or swapped file is a clear error rather than a crash inside FAISS.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field

from gate import __version__
from gate.errors import InputError
from gate.files import make_shared_dir, sha256_file
from gate.readers import read_jsonl_rows
from gate.similarity.embed import Embedder, EmbeddingCache, embed_texts
from gate.similarity.examples import Example, ExampleSet, Fields, example_from_record
from gate.similarity.kinds import (
    DEFAULT_MEMORY_BUDGET,
    Rows,
    apply_search_settings,
    build_faiss,
    calibrate,
    choose_kind,
    default_settings,
    index_bytes,
)
from gate.versioned import Versioned

SCHEMA = "safety-gate/index"
SCHEMA_VERSION = 1
INDEX_FILE, EXAMPLES_FILE, MANIFEST_FILE = "index.faiss", "alignment.jsonl", "manifest.json"


class IndexManifest(Versioned):
    """What an index was built from and how; checked on every load."""

    schema_name: str = Field(default=SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    embedder: str
    embedder_id: str
    embedder_options: dict[str, Any] = Field(default_factory=dict)
    """What reopens the embedder (an endpoint's URL and served model); no secret is kept."""
    model: str | None
    """The base model spec, for the hidden-state embedder."""
    dim: int
    rows: int
    kind: str
    settings: dict[str, int]
    memory_bytes: int = 0
    """The index's size in memory by the formula of its kind (similarity/kinds.py)."""
    recall_at_10: float
    """Recall@10 of the search settings, measured at build time on sampled alignment rows."""
    fields: dict[str, str]
    """Where the conversation is in each record of alignment.jsonl (see examples.Fields)."""
    dataset: str
    dataset_sha256: str
    index_sha256: str
    examples_sha256: str
    faiss_version: str
    gate_version: str = __version__
    built_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    build_seconds: float


@dataclass
class LoadedIndex:
    """An index ready to search, with its manifest and the examples behind its rows."""

    folder: Path
    index: Any
    manifest: IndexManifest
    examples: list[Example]


def write_index(
    folder: Path,
    index: Any,
    examples: list[Example],
    manifest_fields: dict[str, Any],
) -> IndexManifest:
    """Write the three files into a fresh folder beside `folder`, then swap it into place."""
    import faiss

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    make_shared_dir(staging)  # it becomes the index folder
    try:
        faiss.write_index(index, str(staging / INDEX_FILE))
        with (staging / EXAMPLES_FILE).open("w", encoding="utf-8") as handle:
            for example in examples:
                handle.write(json.dumps(dict(example.record), ensure_ascii=False) + "\n")
        manifest = IndexManifest(
            index_sha256=sha256_file(staging / INDEX_FILE),
            examples_sha256=sha256_file(staging / EXAMPLES_FILE),
            faiss_version=faiss.__version__,
            **manifest_fields,
        )
        (staging / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
        _swap_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _swap_into_place(staging: Path, folder: Path) -> None:
    if folder.exists():
        if not (folder / MANIFEST_FILE).is_file() and any(folder.iterdir()):
            raise InputError(f"{folder} exists and is not a gate index; refusing to replace it")
        retired = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(folder, retired)
        os.replace(staging, folder)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, folder)


def read_manifest(folder: Path) -> IndexManifest:
    """The validated manifest of an index folder."""
    if not folder.is_dir():
        raise InputError(f"index folder not found: {folder}")
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InputError(
            f"{folder} is not a gate index (no {MANIFEST_FILE})",
            hint="build one with `gate index build`",
        )
    try:
        return IndexManifest.read(path)
    except InputError as exc:
        raise InputError(exc.message, hint="rebuild it with `gate index build`") from exc


def _verify(path: Path, expected: str) -> None:
    if not path.is_file():
        raise InputError(f"{path} is missing", hint="rebuild with `gate index build`")
    actual = sha256_file(path)
    if actual != expected:
        raise InputError(
            f"{path} is corrupted or was changed since the index was built "
            f"(sha256 {actual[:12]}…, manifest says {expected[:12]}…)",
            hint="rebuild with `gate index build`",
        )


def load_index(folder: Path) -> LoadedIndex:
    """Load and verify an index folder."""
    import faiss

    manifest = read_manifest(folder)
    _verify(folder / INDEX_FILE, manifest.index_sha256)
    _verify(folder / EXAMPLES_FILE, manifest.examples_sha256)
    try:
        index = faiss.read_index(str(folder / INDEX_FILE))
    except RuntimeError as exc:  # checksums match but FAISS cannot parse: another version wrote it
        raise InputError(f"FAISS cannot read {folder / INDEX_FILE}: {exc}") from exc
    if index.ntotal != manifest.rows or index.d != manifest.dim:
        raise InputError(
            f"{folder / INDEX_FILE} holds {index.ntotal} rows of dimension {index.d}; the manifest "
            f"says {manifest.rows} of {manifest.dim}"
        )
    path = folder / EXAMPLES_FILE
    fields = Fields(**manifest.fields)
    examples = [
        example_from_record(record, f"{path}:{line}", fields)
        for line, record in read_jsonl_rows(path)
    ]
    if len(examples) != manifest.rows:
        raise InputError(f"{path} has {len(examples)} examples; the index has {manifest.rows}")
    apply_search_settings(index, manifest.kind, manifest.settings)
    return LoadedIndex(folder=folder, index=index, manifest=manifest, examples=examples)


def assemble_index(
    blocks: Rows,
    examples: list[Example],
    *,
    out: Path,
    kind: str,
    budget: int,
    manifest_fields: dict[str, Any],
) -> IndexManifest:
    """Build, calibrate and write the index over vectors given as row blocks (in memory, or the
    memory-mapped shards of a sharded build)."""
    started = time.monotonic()
    rows, dim = sum(len(b) for b in blocks), int(manifest_fields["dim"])
    if rows != len(examples):
        raise InputError(f"{rows} vectors for {len(examples)} alignment examples")
    if rows == 0:
        raise InputError("the alignment set has no examples: nothing to index")
    chosen = choose_kind(rows, kind, dim=dim, budget=budget)
    index = build_faiss(blocks, chosen, default_settings(chosen, rows, dim))
    settings, recall = calibrate(index, blocks, chosen, default_settings(chosen, rows, dim))
    fields = dict(manifest_fields)
    spent = fields.get("build_seconds", 0.0) + time.monotonic() - started
    fields["build_seconds"] = round(spent, 3)
    return write_index(
        out,
        index,
        examples,
        fields
        | {
            "rows": rows,
            "kind": chosen,
            "settings": settings,
            "memory_bytes": index_bytes(chosen, rows, dim, settings),
            "recall_at_10": round(recall, 4),
        },
    )


def embedder_fields(embedder: Embedder, model: str | None) -> dict[str, Any]:
    """The manifest's record of the embedder."""
    return {
        "embedder": embedder.name,
        "embedder_id": embedder.id,
        "embedder_options": getattr(embedder, "manifest_options", dict)(),
        "model": model,
        "dim": embedder.dim,
    }


def build_index(
    alignment: ExampleSet,
    embedder: Embedder,
    cache: EmbeddingCache | None,
    *,
    out: Path,
    fields: Fields,
    kind: str = "auto",
    model: str | None = None,
    budget: int = DEFAULT_MEMORY_BUDGET,
) -> IndexManifest:
    """Embed the alignment set (cached), build the index, and write the index folder."""
    started = time.monotonic()
    texts = [embedder.text_of(e) for e in alignment.examples]
    choose_kind(len(texts), kind, dim=embedder.dim, budget=budget)  # a bad --kind fails first
    vectors, _ = embed_texts(embedder, texts, cache, description="embedding alignment data")
    return assemble_index(
        [vectors],
        list(alignment.examples),
        out=out,
        kind=kind,
        budget=budget,
        manifest_fields=embedder_fields(embedder, model)
        | {
            "fields": asdict(fields),
            "dataset": alignment.name,
            "dataset_sha256": alignment.sha256,
            "build_seconds": time.monotonic() - started,
        },
    )
