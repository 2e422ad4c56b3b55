"""A sharded index build: n runners each embed a slice, one merge builds the index.

`gate index build --shard i/n --out DIR` embeds rows [(i-1) N / n, i N / n) of the alignment set
and writes DIR/vectors.npy (float32 rows) and DIR/shard.json (which rows, from which data, by
which embedder, and the vectors' sha256). `gate index merge` checks that the shards come from the
same data and embedder, that each of 1..n is there once, and that every file is intact; then it
builds the index over the shards memory-mapped, block by block, so the merge never holds more
than the index itself and one block of vectors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from gate.errors import InputError
from gate.files import atomic_open, sha256_file
from gate.sharding import shard_rows
from gate.similarity.embed import Embedder, EmbeddingCache, embed_texts
from gate.similarity.examples import ExampleSet, Fields
from gate.similarity.index import IndexManifest, assemble_index, embedder_fields
from gate.similarity.kinds import DEFAULT_MEMORY_BUDGET

SHARD_FILE, VECTORS_FILE = "shard.json", "vectors.npy"


class ShardManifest(BaseModel):
    """One shard of a sharded build."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard: int
    shards: int
    start: int
    stop: int
    total_rows: int
    dataset: str
    dataset_sha256: str
    fields: dict[str, str]
    embedder: dict[str, Any]
    """What `embedder_fields` records: name, id, options, model, dim."""
    vectors_sha256: str
    seconds: float


def build_shard(
    alignment: ExampleSet,
    embedder: Embedder,
    cache: EmbeddingCache | None,
    *,
    shard: tuple[int, int],
    out: Path,
    fields: Fields,
    model: str | None = None,
) -> ShardManifest:
    """Embed this shard's rows and write the shard folder (vectors first, manifest last)."""
    started = time.monotonic()
    index, count = shard
    rows = shard_rows(len(alignment.examples), index, count)
    texts = [embedder.text_of(alignment.examples[i]) for i in rows]
    vectors, _ = embed_texts(
        embedder, texts, cache, description=f"embedding alignment shard {index}/{count}"
    )
    vectors = vectors.reshape(len(texts), embedder.dim)
    out.mkdir(parents=True, exist_ok=True)
    (out / SHARD_FILE).unlink(missing_ok=True)  # an old manifest never vouches for new vectors
    with atomic_open(out / VECTORS_FILE, "wb") as handle:
        np.save(handle, vectors)
    manifest = ShardManifest(
        shard=index,
        shards=count,
        start=rows.start,
        stop=rows.stop,
        total_rows=len(alignment.examples),
        dataset=alignment.name,
        dataset_sha256=alignment.sha256,
        fields=asdict(fields),
        embedder=embedder_fields(embedder, model),
        vectors_sha256=sha256_file(out / VECTORS_FILE),
        seconds=round(time.monotonic() - started, 3),
    )
    with atomic_open(out / SHARD_FILE) as handle:
        handle.write(manifest.model_dump_json(indent=2))
    return manifest


def read_shard(folder: Path) -> ShardManifest:
    path = folder / SHARD_FILE
    if not path.is_file():
        raise InputError(f"{folder} is not an index shard (no {SHARD_FILE})")
    try:
        return ShardManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise InputError(f"{path}: not a shard manifest ({str(exc).splitlines()[0]})") from None


_SAME: dict[str, Callable[[ShardManifest], object]] = {
    "shard count": lambda s: (s.shards, s.total_rows),
    "alignment data": lambda s: s.dataset_sha256,
    # Runners may reach the same served model through different URLs: the id is what must match.
    "embedder": lambda s: (s.embedder["embedder_id"], s.embedder["dim"]),
    "fields": lambda s: s.fields,
}


def _same(shards: Sequence[tuple[Path, ShardManifest]]) -> None:
    first_path, first = shards[0]
    for what, key in _SAME.items():
        for path, shard in shards[1:]:
            if key(shard) != key(first):
                raise InputError(
                    f"shard {path} has another {what} than {first_path}: "
                    f"{key(shard)!r} vs {key(first)!r}"
                )


def check_shards(folders: Sequence[Path], alignment: ExampleSet) -> list[tuple[Path, Any]]:
    """The shards in order, each with its vectors memory-mapped, after every check passes."""
    if not folders:
        raise InputError("no shards given: pass --shards DIR for each `--shard i/n` output")
    shards = [(folder, read_shard(folder)) for folder in folders]
    _same(shards)
    count = shards[0][1].shards
    seen = sorted(s.shard for _, s in shards)
    if seen != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(seen))
        extra = sorted({i for i in seen if seen.count(i) > 1})
        raise InputError(
            f"shards of {count}: missing {missing or 'none'}, repeated {extra or 'none'}"
        )
    if shards[0][1].dataset_sha256 != alignment.sha256:
        raise InputError(
            f"the shards embedded data with sha256 {shards[0][1].dataset_sha256[:12]}…; "
            f"{alignment.name} has {alignment.sha256[:12]}…",
            hint="merge with the alignment data the shards were built from",
        )
    blocks = []
    for folder, shard in sorted(shards, key=lambda pair: pair[1].shard):
        path = folder / VECTORS_FILE
        if range(shard.start, shard.stop) != shard_rows(shard.total_rows, shard.shard, count):
            raise InputError(
                f"{folder / SHARD_FILE}: rows {shard.start}..{shard.stop} are not "
                f"those of shard {shard.shard}/{count}"
            )
        if not path.is_file() or sha256_file(path) != shard.vectors_sha256:
            raise InputError(f"{path} is missing or changed since its shard was written")
        vectors = np.load(path, mmap_mode="r")
        dim = shard.embedder["dim"]
        if vectors.shape != (shard.stop - shard.start, dim) or vectors.dtype != np.float32:
            raise InputError(f"{path} holds {vectors.shape} {vectors.dtype}, not its shard's rows")
        blocks.append((folder, vectors))
    return blocks


def merge_shards(
    folders: Sequence[Path],
    alignment: ExampleSet,
    *,
    out: Path,
    kind: str = "auto",
    budget: int = DEFAULT_MEMORY_BUDGET,
) -> IndexManifest:
    """Build the index over the checked shards and write the index folder."""
    started = time.monotonic()
    blocks = [vectors for _, vectors in check_shards(folders, alignment)]
    first = read_shard(folders[0])
    spent = sum(read_shard(folder).seconds for folder in folders)
    return assemble_index(
        blocks,
        list(alignment.examples),
        out=out,
        kind=kind,
        budget=budget,
        manifest_fields=first.embedder
        | {
            "fields": first.fields,
            "dataset": alignment.name,
            "dataset_sha256": alignment.sha256,
            # Embedding time summed over the shards (it ran in parallel) plus this merge.
            "build_seconds": spent + time.monotonic() - started,
        },
    )
