"""The index at scale and the endpoint embedder: parts 4 and 5 of bench/similarity.py."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from gate.similarity.embed import MiniLMEmbedder, make_embedder, minilm_folder
from gate.similarity.examples import load_examples
from gate.similarity.kinds import (
    build_faiss,
    calibrate,
    default_settings,
    exact_neighbours,
    index_bytes,
)

ROOT = Path(__file__).resolve().parents[1]
K = 10
DATA = [
    ROOT / "data" / "alignment" / "refusals.jsonl",
    ROOT / "examples" / "alignment.jsonl",
    ROOT / "examples" / "finetune.jsonl",
    ROOT / "examples" / "collapse" / "harmful.jsonl",
]


def our_texts() -> list[str]:
    """Every conversation in the repository's alignment and fine-tuning files."""
    texts: list[str] = []
    for path in DATA:
        texts += [example.text for example in load_examples(str(path)).examples]
    return list(dict.fromkeys(texts))


def seed_vectors(workdir: Path) -> np.ndarray:
    """MiniLM embeddings of our texts: the centres the synthetic rows are drawn around."""
    texts = our_texts()
    started = time.perf_counter()
    vectors = MiniLMEmbedder(workdir / "cache").embed(texts)
    print(f"[scale] {len(texts)} seed texts embedded in {time.perf_counter() - started:.1f}s")
    return vectors


def noisy(seeds: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Rows around random seeds: per-dimension noise of 0.03, cosine about 0.8 to the seed."""
    out = np.empty((rows, seeds.shape[1]), dtype=np.float32)
    for start in range(0, rows, 100_000):
        count = min(100_000, rows - start)
        block = seeds[rng.integers(0, len(seeds), count)]
        block = block + 0.03 * rng.standard_normal(block.shape, dtype=np.float32)
        out[start : start + count] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def bench_scale(
    workdir: Path, rows: int, kinds: tuple[str, ...] = ("flat", "ivf", "ivfsq", "ivfpq")
) -> None:
    import faiss

    rng = np.random.default_rng(0)
    seeds = seed_vectors(workdir)
    base = noisy(seeds, rows, rng)
    queries = noisy(seeds, 1_000, rng)
    dim = base.shape[1]
    print(f"[scale] {rows:,} rows x {dim}, {base.nbytes / 2**30:.2f} GiB as float32", flush=True)
    started = time.perf_counter()
    truth = exact_neighbours(queries, [base], K)
    print(
        f"[scale] exact neighbours of 1,000 queries (numpy): {time.perf_counter() - started:.1f}s"
    )
    # The gate reports max cosines: how far each index's top score is from the exact one.
    best = np.array(
        [max(float(q @ base[r]) for r in row) for q, row in zip(queries, truth, strict=True)]
    )
    for kind in kinds:
        settings = default_settings(kind, rows, dim)
        before = resident_bytes()
        started = time.perf_counter()
        index = build_faiss([base], kind, settings)
        built = time.perf_counter() - started
        chosen, calibrated = calibrate(index, [base], kind, settings)
        calibration = time.perf_counter() - started - built
        grown = resident_bytes() - before
        started = time.perf_counter()
        scores, found = index.search(queries, K)
        search = time.perf_counter() - started
        error = np.abs(scores[:, 0] - best)
        recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)])
        serialised = len(faiss.serialize_index(index))
        print(
            f"[scale] {kind:6s} {chosen}: build {built:.1f}s + calibration {calibration:.1f}s; "
            f"memory by formula {index_bytes(kind, rows, dim, chosen) / 2**20:,.0f} MiB, "
            f"serialised {serialised / 2**20:,.0f} MiB, resident growth {grown / 2**20:,.0f} MiB; "
            f"recall@10 {recall:.4f} (calibration sample {calibrated:.4f}); "
            f"max-cosine error mean {error.mean():.4f}, max {error.max():.4f}; "
            f"1,000 queries in {search * 1000:.0f} ms",
            flush=True,
        )
        del index


def _server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = 8765
    env = os.environ | {
        "VLLM_CPU_OMP_THREADS_BIND": "0-1",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }
    command = [str(ROOT / ".venv-vllm" / "bin" / "python"), "-m"]
    command += ["vllm.entrypoints.openai.api_server", "--model", str(minilm_folder())]
    command += ["--runner", "pooling", "--convert", "embed", "--served-model-name", "minilm"]
    command += ["--dtype", "float32", "--enforce-eager", "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / "vllm.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    import requests

    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/models", timeout=2).ok:
                return process, url
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(1)
    process.kill()
    raise SystemExit(f"the vLLM embedding server did not start: {workdir / 'vllm.log'}")


def bench_endpoint(workdir: Path, count: int = 2_000) -> None:
    texts = (our_texts() * 3)[:count]
    process, url = _server(workdir)
    try:
        local = MiniLMEmbedder(workdir / "cache")
        local.embed(["warm up"])
        started = time.perf_counter()
        expected = local.embed(texts)
        baseline = count / (time.perf_counter() - started)
        print(f"[endpoint] in-process MiniLM: {baseline:.0f} texts/s ({count} texts)", flush=True)
        results = {"in_process": baseline}
        for concurrency in (1, 2, 4, 8):
            options = {"base_url": url, "served_model": "minilm", "batch_size": "32"}
            options["max_concurrency"] = str(concurrency)
            served = make_embedder("openai", cache_dir=workdir, options=options)
            started = time.perf_counter()
            vectors = served.embed(texts)
            rate = count / (time.perf_counter() - started)
            agree = float(np.min(np.sum(vectors * expected, axis=1)))
            results[f"endpoint_c{concurrency}"] = rate
            print(
                f"[endpoint] vLLM /v1/embeddings, batches of 32, concurrency {concurrency}: "
                f"{rate:.0f} texts/s = {rate / baseline:.2f}x in-process; min cosine {agree:.6f}",
                flush=True,
            )
        print(json.dumps({k: round(v, 1) for k, v in results.items()}))
    finally:
        process.terminate()
        process.wait(timeout=60)
