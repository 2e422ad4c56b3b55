"""Similarity benchmarks, each against its baseline in the same run.

1. ANN search: 200k alignment x 50k fine-tuning unit vectors from a normalised Gaussian mixture
   (d = 384). The gate's index (auto kind, calibrated at build) against exact search by numpy
   matrix product: search time (build time apart) and recall@10.
2. MiniLM embedding throughput, texts/s.
3. `gate similarity` on 5k x 5k texts: the first run (embedding everything) against a re-run that
   finds every embedding in the cache. Timed in-process (the command's work) and as whole CLI
   processes (interpreter start and imports included).
4. `--scale N` (1,000,000 in bench/README.md): the index at N rows, each kind the gate builds
   (flat, the exact baseline; ivf; ivfsq; ivfpq): build and calibration time, memory (the
   formula, the serialised index, the process's resident growth), recall@10, the error of the
   top cosine and the search time of 1,000 unseen queries against exact search. Rows are MiniLM
   embeddings of our own texts with noise added (embedding a million texts would take about 1.5
   hours here; see `seed_vectors`).
5. `--endpoint`: MiniLM through vLLM's `/v1/embeddings` (a server started from .venv-vllm on
   this machine) against MiniLM in-process, at several client concurrencies, same texts.

    .venv/bin/python bench/similarity.py [--alignment 200000] [--finetune 50000] [--texts 5000]
    .venv/bin/python bench/similarity.py --only scale,endpoint --scale 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gate.similarity.embed import EmbeddingCache, MiniLMEmbedder, embed_texts
from gate.similarity.examples import Fields, load_examples
from gate.similarity.index import load_index
from gate.similarity.kinds import build_faiss, calibrate, choose_kind, default_settings
from gate.similarity.score import run_similarity

sys.path.insert(0, str(Path(__file__).parent))
from similarity_scale import bench_endpoint, bench_scale  # noqa: E402

K = 10


def mixture(rows: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    points = centres[rng.integers(0, len(centres), rows)]
    points = points + 0.6 * rng.standard_normal(points.shape, dtype=np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def exact_top_k(queries: np.ndarray, base: np.ndarray, k: int) -> np.ndarray:
    """The baseline: numpy matrix product and a partial sort, in chunks that fit in memory."""
    found = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 2000):
        scores = queries[start : start + 2000] @ base.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
        found[start : start + 2000] = np.take_along_axis(top, order, 1)
    return found


def bench_ann(alignment_rows: int, finetune_rows: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, 384), dtype=np.float32)
    base = mixture(alignment_rows, centres, rng).astype(np.float32)
    queries = mixture(finetune_rows, centres, rng).astype(np.float32)
    print(f"[ann] {alignment_rows} x {finetune_rows} unit vectors, d=384, 200 clusters", flush=True)

    started = time.perf_counter()
    truth = exact_top_k(queries, base, K)
    exact_s = time.perf_counter() - started
    print(f"[ann] exact (numpy matmul): {exact_s:.1f}s", flush=True)

    kind = choose_kind(alignment_rows)
    started = time.perf_counter()
    index = build_faiss(base, kind, default_settings(kind, alignment_rows))
    settings, calibrated = calibrate(index, base, kind, default_settings(kind, alignment_rows))
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    _, found = index.search(queries, K)
    search_s = time.perf_counter() - started
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)])
    print(
        f"[ann] gate index: {kind} {settings}, build + calibration {build_s:.1f}s "
        f"(calibrated recall@10 {calibrated:.4f})"
    )
    print(
        f"[ann] search {search_s:.1f}s, recall@10 {recall:.4f}, "
        f"speed-up {exact_s / search_s:.1f}x over exact",
        flush=True,
    )


_SUBJECTS = [
    "my sister",
    "a new employee",
    "our team",
    "the school",
    "a small bakery",
    "my grandfather",
    "the hiking club",
    "a student",
    "the city council",
    "my neighbour",
]
_TASKS = [
    "write a thank-you note for",
    "plan a weekend trip for",
    "explain compound interest to",
    "draft a polite complaint for",
    "suggest a healthy dinner for",
    "summarise the news for",
    "create a study schedule for",
    "recommend three books for",
    "design a logo idea for",
    "translate a greeting for",
]
_DETAILS = [
    "in under 100 words",
    "with a friendly tone",
    "using simple language",
    "with bullet points",
    "including a budget",
    "for a rainy day",
    "in Spanish",
    "with a short poem",
    "step by step",
    "with examples",
]


def synthetic_texts(count: int, seed: int, path: Path) -> Path:
    """Varied instruction/answer pairs as JSONL, so the embedder sees realistic lengths."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            task, subject, detail = (
                _TASKS[rng.integers(len(_TASKS))],
                _SUBJECTS[rng.integers(len(_SUBJECTS))],
                _DETAILS[rng.integers(len(_DETAILS))],
            )
            prompt = f"Please {task} {subject} {detail}. (request {seed}-{i})"
            response = f"Here is a suggestion for {subject}: " + " ".join(
                rng.choice(
                    ["clear", "short", "useful", "kind", "simple", "helpful", "careful"],
                    size=int(rng.integers(8, 30)),
                )
            )
            handle.write(json.dumps({"prompt": prompt, "response": response}) + "\n")
    return path


def bench_embedding(workdir: Path, texts: int) -> None:
    data = synthetic_texts(min(texts, 2000), seed=7, path=workdir / "throughput.jsonl")
    examples = load_examples(str(data)).examples
    embedder = MiniLMEmbedder(workdir / "cache")
    embedder.embed(["warm up"])
    started = time.perf_counter()
    embed_texts(embedder, [e.text for e in examples], None, progress_stream=open("/dev/null", "w"))
    seconds = time.perf_counter() - started
    print(
        f"[embed] MiniLM: {len(examples)} texts in {seconds:.1f}s = "
        f"{len(examples) / seconds:.0f} texts/s",
        flush=True,
    )


def bench_cache(workdir: Path, texts: int) -> None:
    alignment = synthetic_texts(texts, seed=1, path=workdir / "alignment.jsonl")
    finetune = synthetic_texts(texts, seed=2, path=workdir / "finetune.jsonl")
    gate = [str(Path(sys.executable).with_name("gate"))]
    common = ["--cache-dir", str(workdir / "cache")]
    subprocess.run(
        [
            *gate,
            "index",
            "build",
            "--alignment",
            str(alignment),
            "--out",
            str(workdir / "index"),
            *common,
        ],
        check=True,
        capture_output=True,
    )

    def in_process(cache_dir: Path) -> float:
        started = time.perf_counter()
        run_similarity(
            load_index(workdir / "index"),
            str(finetune),
            fields=Fields(),
            cache_dir=workdir / "cache",
            cache=EmbeddingCache(cache_dir / "embeddings.sqlite"),
        )
        return time.perf_counter() - started

    first = in_process(workdir / "fresh-cache")
    cached = in_process(workdir / "fresh-cache")
    print(
        f"[cache] gate similarity {texts} x {texts}, in-process: first {first:.2f}s, "
        f"cached re-run {cached:.2f}s, speed-up {first / cached:.1f}x",
        flush=True,
    )

    def whole_cli(cache_dir: Path) -> float:
        started = time.perf_counter()
        subprocess.run(
            [
                *gate,
                "similarity",
                "--index",
                str(workdir / "index"),
                "--finetune",
                str(finetune),
                "--cache-dir",
                str(cache_dir),
                "--out",
                str(workdir / "sim"),
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started

    first = whole_cli(workdir / "cli-cache")
    cached = whole_cli(workdir / "cli-cache")
    print(
        f"[cache] the same as whole `gate similarity` processes: first {first:.2f}s, "
        f"cached re-run {cached:.2f}s, speed-up {first / cached:.1f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alignment", type=int, default=200_000)
    parser.add_argument("--finetune", type=int, default=50_000)
    parser.add_argument("--texts", type=int, default=5_000)
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--only", default="embed,cache,ann,scale,endpoint")
    parser.add_argument("--kinds", default="flat,ivf,ivfsq,ivfpq", help="Index kinds of --scale.")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "embed" in parts:
            bench_embedding(workdir, args.texts)
        if "cache" in parts:
            bench_cache(workdir, args.texts)
        if "ann" in parts:
            bench_ann(args.alignment, args.finetune)
        if "scale" in parts:
            bench_scale(workdir, args.scale, tuple(args.kinds.split(",")))
        if "endpoint" in parts:
            bench_endpoint(workdir)


if __name__ == "__main__":
    main()
