from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gate.cli import cli
from gate.errors import InputError
from gate.similarity.index import load_index, read_manifest
from gate.similarity.kinds import (
    FLAT_MAX_ROWS,
    build_faiss,
    calibrate,
    choose_kind,
    default_settings,
    exact_neighbours,
    index_bytes,
)
from gate.similarity.score import open_index_embedder
from tests.helpers import build_example_index

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def clustered(rows: int, dim: int = 64, clusters: int = 20) -> np.ndarray:
    """Unit vectors from a Gaussian mixture, like real embeddings' topic clusters."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((clusters, dim))
    points = centres[rng.integers(0, clusters, rows)] + 0.6 * rng.standard_normal((rows, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def exact_top(queries: np.ndarray, base: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_ann_agrees_with_exact_search(kind: str) -> None:
    points = clustered(20_500)  # queries come from the same mixture as the base
    base, queries = points[:20_000], points[20_000:]
    index = build_faiss([base], kind, default_settings(kind, len(base)))
    _, measured = calibrate(index, [base], kind, default_settings(kind, len(base)))
    assert measured >= 0.95
    _, found = index.search(queries, 10)
    truth = exact_top(queries, base, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95  # on queries the calibration never saw


def test_flat_is_exact() -> None:
    points = clustered(2_050)
    base, queries = points[:2_000], points[2_000:]
    scores, found = build_faiss([base], "flat", {}).search(queries, 5)
    assert np.array_equal(found, exact_top(queries, base, 5))
    assert np.allclose(scores, np.take_along_axis(queries @ base.T, found, 1), atol=1e-5)


def test_auto_kind() -> None:
    assert choose_kind(FLAT_MAX_ROWS) == "flat"
    assert choose_kind(FLAT_MAX_ROWS + 1) == "ivf"
    assert choose_kind(10, "hnsw") == "hnsw"
    assert default_settings("ivf", 200_000)["nlist"] == 2048
    with pytest.raises(InputError):
        choose_kind(10, "lsh")
    with pytest.raises(InputError, match="ivfpq needs at least 10,000 rows"):
        choose_kind(500, "ivfpq")


def test_auto_compresses_past_the_memory_budget() -> None:
    # 1M rows of 384 floats are 1.43 GiB whole: IVF under a 4 GiB budget, 8-bit codes under
    # 1 GiB, product quantisation under 256 MiB.
    assert index_bytes("ivf", 1_000_000, 384) > 2**30
    assert choose_kind(1_000_000, dim=384) == "ivf"
    assert choose_kind(1_000_000, dim=384, budget=2**30) == "ivfsq"
    assert choose_kind(1_000_000, dim=384, budget=2**28) == "ivfpq"
    settings = default_settings("ivfpq", 1_000_000, 384)
    assert settings["m"] == 96 and settings["nbits"] == 8  # 96 bytes a row instead of 1,536
    assert index_bytes("ivfpq", 1_000_000, 384) < 2**30 / 8


def test_ivfsq_keeps_recall_in_a_quarter_of_the_memory() -> None:
    import faiss

    base = clustered(20_000)
    settings = default_settings("ivfsq", len(base), 64)
    index = build_faiss([base], "ivfsq", settings)
    written = len(faiss.serialize_index(index))
    expected = index_bytes("ivfsq", len(base), 64, settings)
    assert abs(written - expected) / expected < 0.02, (written, expected)
    assert expected < index_bytes("ivf", len(base), 64, settings) / 2
    _, measured = calibrate(index, [base], "ivfsq", settings)
    assert measured >= 0.9


def test_ivfpq_memory_matches_its_formula_and_recall_is_measured() -> None:
    import faiss

    base = clustered(20_000)
    settings = default_settings("ivfpq", len(base), 64)
    index = build_faiss([base[:7_000], base[7_000:]], "ivfpq", settings)
    assert index.ntotal == 20_000 and index.pq.M == settings["m"]
    written = len(faiss.serialize_index(index))
    # The file holds what memory does: codes, list ids, the direct map, centroids, codebooks.
    expected = index_bytes("ivfpq", len(base), 64, settings)
    assert abs(written - expected) / expected < 0.02, (written, expected)
    chosen, measured = calibrate(index, [base], "ivfpq", settings)
    # Compressed distances lose neighbours: the index reports what it reaches, not the target.
    assert 0.3 < measured < 0.95 and chosen["nprobe"] >= settings["nprobe"]


def test_blocks_build_the_same_index_as_one_array() -> None:
    points = clustered(3_050)
    base, queries = points[:3_000], points[3_000:]
    whole = build_faiss([base], "flat", {}).search(queries, 5)[1]
    parts = build_faiss([base[:1_234], base[1_234:2_000], base[2_000:]], "flat", {})
    assert np.array_equal(parts.search(queries, 5)[1], whole)
    truth = exact_neighbours(queries, [base[:100], base[100:]], 5)
    assert all(set(a) == set(b) for a, b in zip(truth, whole, strict=True))


@pytest.fixture
def built(tmp_path: Path) -> Path:
    return build_example_index(tmp_path)


def test_build_writes_a_verifiable_manifest(built: Path) -> None:
    manifest = read_manifest(built)
    assert (manifest.embedder, manifest.dim, manifest.rows, manifest.kind) == (
        "minilm",
        384,
        48,
        "flat",
    )
    assert manifest.dataset.endswith("alignment.jsonl") and len(manifest.dataset_sha256) == 64
    assert manifest.faiss_version and manifest.fields["prompt"] == "prompt"
    assert manifest.recall_at_10 == 1.0  # exact search
    loaded = load_index(built)
    assert loaded.index.ntotal == 48 and len(loaded.examples) == 48
    assert loaded.examples[0].turns[0][0] == "user"


def _expect_rejected(folder: Path, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_index(folder)
    result = CliRunner().invoke(
        cli,
        [
            "similarity",
            "--index",
            str(folder),
            "--finetune",
            str(EXAMPLES / "finetune.jsonl"),
            "--out",
            str(folder.parent / "out"),
        ],
    )
    assert result.exit_code == 2, result.stderr
    assert "error: " in result.stderr and "Traceback" not in result.stderr


def test_corrupted_index_is_rejected(built: Path) -> None:
    data = bytearray((built / "index.faiss").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (built / "index.faiss").write_bytes(bytes(data))
    _expect_rejected(built, "index.faiss is corrupted or was changed")


def test_truncated_index_is_rejected(built: Path) -> None:
    data = (built / "index.faiss").read_bytes()
    (built / "index.faiss").write_bytes(data[: len(data) // 3])
    _expect_rejected(built, "index.faiss is corrupted or was changed")


def test_edited_examples_are_rejected(built: Path) -> None:
    with (built / "alignment.jsonl").open("a") as handle:
        handle.write(json.dumps({"prompt": "extra", "response": "row"}) + "\n")
    _expect_rejected(built, "alignment.jsonl is corrupted or was changed")


def test_missing_or_broken_manifest(built: Path, tmp_path: Path) -> None:
    _expect_rejected(tmp_path / "nowhere", "index folder not found")
    (built / "manifest.json").write_text("{}")
    _expect_rejected(built, "manifest.json is not a valid IndexManifest")
    (built / "manifest.json").unlink()
    _expect_rejected(built, "is not a gate index")


def test_dimension_mismatch_between_manifest_and_file(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    manifest["dim"] = 768
    (built / "manifest.json").write_text(json.dumps(manifest))
    _expect_rejected(built, "holds 48 rows of dimension 384; the manifest says 48 of 768")


def test_embedder_mismatch_is_rejected(built: Path, tmp_path: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    manifest["embedder_id"] = "minilm:0000000000000000"
    (built / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="built with embedder minilm:0000000000000000"):
        open_index_embedder(load_index(built), tmp_path / "cache")


def test_rebuild_replaces_an_index_but_not_other_folders(built: Path, tmp_path: Path) -> None:
    args = [
        "index",
        "build",
        "--alignment",
        str(EXAMPLES / "alignment.jsonl"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
    ]
    assert CliRunner().invoke(cli, [*args, str(built)]).exit_code == 0
    assert load_index(built).manifest.rows == 48
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(cli, [*args, str(other)])
    assert result.exit_code == 2 and "is not a gate index; refusing to replace it" in result.stderr
    assert (other / "notes.txt").read_text() == "keep me"
