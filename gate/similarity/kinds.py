"""Which FAISS index to build for how many rows, what it costs in memory, and its search setting.

Four kinds, all inner product over unit rows (inner product = cosine):

- `flat`: exact search; every vector kept, 4 d bytes a row.
- `ivf`: the rows split into `nlist` k-means lists, `nprobe` of them searched; vectors kept whole.
- `ivfsq`: IVF whose vectors are kept as one byte a dimension (8-bit scalar quantisation, 4
  times smaller); distances nearly exact.
- `ivfpq`: IVF whose vectors are product-quantised to `m` bytes a row (`m` = d/4 sub-vectors
  of 8-bit codes, 16 times smaller than whole vectors); searched like `ivf`, distances
  approximate. For sets too big to keep whole.
- `hnsw`: a proximity graph over whole vectors; asked for by name only.

Memory of a built index, in bytes, for n rows of dimension d (`index_bytes`):

    flat   4 n d
    ivf    4 n d + 16 n + 4 nlist d                (vectors, list ids and direct map, centroids)
    ivfsq  n d + 16 n + 4 nlist d + 8 d            (codes, ids and map, centroids, ranges)
    ivfpq  m n + 16 n + 4 nlist d + 4 * 256 * d    (codes, ids and map, centroids, codebooks)
    hnsw   4 n d + 8 M n                           (vectors, about 2M links of 4 bytes a row)

`auto` picks flat up to FLAT_MAX_ROWS, then the first of IVF, IVF-SQ and IVF-PQ that fits the
memory budget (IVF-PQ if none does).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gate.errors import InputError

KINDS = ("auto", "flat", "hnsw", "ivf", "ivfsq", "ivfpq")
IVF_KINDS = ("ivf", "ivfsq", "ivfpq")
# Exact search is fast enough below this many rows and has perfect recall; above it, IVF.
FLAT_MAX_ROWS = 50_000
DEFAULT_MEMORY_BUDGET = 4 * 2**30
"""Bytes an index may take in memory before `auto` compresses it: the index is loaded again
wherever the gate checks a fine-tune, often a small CI runner."""
TARGET_RECALL = 0.95
PQ_MIN_ROWS = 10_000
"""256 codes per sub-quantiser need about 39 training points each."""

Rows = Sequence[np.ndarray]
"""Vectors as a list of row blocks (arrays or memory-mapped shards), so a build never needs all
of them in one array."""


def total_rows(blocks: Rows) -> int:
    return sum(len(block) for block in blocks)


def pq_bytes(dim: int) -> int:
    """Bytes a row under IVF-PQ: a sub-vector of 4 dimensions per byte (m must divide d); at 8
    dimensions a byte, recall@10 on clustered test data fell from 0.48 to 0.23."""
    for m in (dim // 4, dim // 2, dim):
        if m >= 1 and dim % m == 0:
            return m
    return dim


def default_settings(kind: str, rows: int, dim: int = 384) -> dict[str, int]:
    """Build settings, and the search setting that `calibrate` starts from."""
    if kind in IVF_KINDS:
        # nlist ~ 4 sqrt(n), as a power of two: the usual balance of list count and list length.
        nlist = min(4096, 2 ** round(math.log2(max(1.0, 4 * math.sqrt(rows)))))
        settings = {"nlist": nlist, "nprobe": min(nlist, 8)}
        return settings | ({"m": pq_bytes(dim), "nbits": 8} if kind == "ivfpq" else {})
    if kind == "hnsw":
        return {"m": 32, "ef_construction": 80, "ef_search": 32}
    return {}


def index_bytes(kind: str, rows: int, dim: int, settings: dict[str, int] | None = None) -> int:
    """Memory of the built index by the formulas in this module's docstring."""
    settings = settings or default_settings(kind, rows, dim)
    nlist = settings.get("nlist", 0)
    if kind == "flat":
        return 4 * rows * dim
    if kind == "ivf":
        return 4 * rows * dim + 16 * rows + 4 * nlist * dim
    if kind == "ivfsq":
        return rows * dim + 16 * rows + 4 * nlist * dim + 8 * dim
    if kind == "ivfpq":
        return settings["m"] * rows + 16 * rows + 4 * nlist * dim + 4 * 2 ** settings["nbits"] * dim
    if kind == "hnsw":
        return 4 * rows * dim + 8 * settings["m"] * rows
    raise InputError(f"unknown index kind {kind!r}")


def choose_kind(
    rows: int, requested: str = "auto", *, dim: int = 384, budget: int = DEFAULT_MEMORY_BUDGET
) -> str:
    """The index kind to build: exact for small sets, IVF for large, IVF-PQ past the budget."""
    if requested not in KINDS:
        raise InputError(f"--kind {requested!r} is not one of {', '.join(KINDS)}")
    if requested == "ivfpq" and rows < PQ_MIN_ROWS:
        raise InputError(f"--kind ivfpq needs at least {PQ_MIN_ROWS:,} rows to train; got {rows}")
    if requested != "auto":
        return requested
    if rows <= FLAT_MAX_ROWS:
        return "flat"
    fits = [k for k in ("ivf", "ivfsq") if index_bytes(k, rows, dim) <= budget]
    return fits[0] if fits else "ivfpq"


def _gather(blocks: Rows, rows: np.ndarray) -> np.ndarray:
    """The rows at sorted global positions `rows`, read block by block."""
    parts, offset = [], 0
    for block in blocks:
        inside = rows[(rows >= offset) & (rows < offset + len(block))] - offset
        if len(inside):
            parts.append(np.asarray(block[inside], dtype=np.float32))
        offset += len(block)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def build_faiss(blocks: Rows, kind: str, settings: dict[str, int]) -> Any:
    """A FAISS inner-product index over unit rows, added one block at a time."""
    import faiss

    rows, dim = total_rows(blocks), int(blocks[0].shape[1])
    index: Any
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings["m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings["ef_construction"]
        index.hnsw.efSearch = settings["ef_search"]
    elif kind in IVF_KINDS:
        nlist = min(settings["nlist"], rows)
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        elif kind == "ivfsq":
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        else:
            index = faiss.IndexIVFPQ(
                quantizer, dim, nlist, settings["m"], settings["nbits"], faiss.METRIC_INNER_PRODUCT
            )
        # k-means needs ~40 points per centroid; a seeded sample keeps large builds quick.
        size = min(rows, max(64 * nlist, 64 * 2 ** settings.get("nbits", 0)))
        sample = np.random.default_rng(0).choice(rows, size=size, replace=False)
        index.train(_gather(blocks, np.sort(sample)))
        index.nprobe = settings["nprobe"]
    else:
        raise InputError(f"unknown index kind {kind!r}")
    for block in blocks:
        for start in range(0, len(block), 65_536):
            index.add(np.ascontiguousarray(block[start : start + 65_536], dtype=np.float32))
    if kind in IVF_KINDS:
        index.make_direct_map()  # lets `reconstruct` read rows back for per-alignment scores
    return index


def exact_neighbours(queries: np.ndarray, blocks: Rows, depth: int) -> np.ndarray:
    """Row numbers of each query's `depth` nearest rows by exact inner product, block by block
    (bounded memory: queries x 65,536 scores at a time)."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    offset = 0
    for block in blocks:
        for start in range(0, len(block), 65_536):
            part = np.asarray(block[start : start + 65_536], dtype=np.float32)
            scores = queries @ part.T
            top = np.argpartition(-scores, min(depth, part.shape[0]) - 1, axis=1)[:, :depth]
            scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
            rows = np.concatenate([best_rows, top + offset + start], axis=1)
            keep = np.argpartition(-scores, min(depth, scores.shape[1]) - 1, axis=1)[:, :depth]
            best_scores = np.take_along_axis(scores, keep, 1)
            best_rows = np.take_along_axis(rows, keep, 1)
        offset += len(block)
    return best_rows


def apply_search_settings(index: Any, kind: str, settings: dict[str, int]) -> None:
    if kind in IVF_KINDS:
        index.nprobe = settings["nprobe"]
    elif kind == "hnsw":
        index.hnsw.efSearch = settings["ef_search"]


_SEARCH_KNOB = {"ivf": "nprobe", "ivfsq": "nprobe", "ivfpq": "nprobe", "hnsw": "ef_search"}


def calibrate(
    index: Any,
    blocks: Rows,
    kind: str,
    settings: dict[str, int],
    *,
    target: float = TARGET_RECALL,
    k: int = 10,
    sample: int = 500,
) -> tuple[dict[str, int], float]:
    """Raise the search effort until recall@k, measured on a sample of rows, reaches `target`.

    How many IVF lists (or HNSW candidates) a query needs depends on how the data clusters, so no
    fixed setting is right for every set. Sampled rows serve as queries; each row's own match is
    left out of both the exact and the approximate neighbour lists. Compressed vectors (IVF-PQ)
    may never reach the target: the effort stops rising once doubling it gains under half a
    point. Leaves `index` searching with the chosen settings, and returns them with the recall
    they measured (1.0 for exact search).
    """
    knob = _SEARCH_KNOB.get(kind)
    if knob is None:
        return settings, 1.0
    rows = total_rows(blocks)
    chosen = np.sort(np.random.default_rng(0).choice(rows, size=min(sample, rows), replace=False))
    queries = _gather(blocks, chosen)
    depth = min(k + 1, rows)
    truth = exact_neighbours(queries, blocks, depth)
    expected = [set(t.tolist()) - {int(q)} for t, q in zip(truth, chosen, strict=True)]
    effort, recall = settings[knob], -1.0
    limit = settings.get("nlist", 4096)
    while True:
        apply_search_settings(index, kind, {**settings, knob: effort})
        _, found = index.search(queries, depth)
        hits = [
            len((set(f.tolist()) - {int(q)}) & e) / max(1, len(e))
            for f, q, e in zip(found, chosen, expected, strict=True)
        ]
        previous, recall = recall, float(np.mean(hits))
        stalled = kind == "ivfpq" and recall - previous < 0.005
        if recall >= target or effort >= limit or stalled:
            return {**settings, knob: effort}, recall
        effort = min(limit, effort * 2)


def reconstructed(index: Any, chunk: int = 65_536) -> Iterator[np.ndarray]:
    """Every stored vector, in row order, a block at a time (decoded, so approximate under
    IVF-PQ): one block in memory, never the whole set."""
    for start in range(0, index.ntotal, chunk):
        count = min(chunk, index.ntotal - start)
        yield np.ascontiguousarray(index.reconstruct_n(start, count), dtype=np.float32)
