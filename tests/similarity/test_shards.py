"""A sharded index build: n slices embedded apart, one merge, the same index as one build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gate.cli import cli
from gate.sharding import parse_shard, shard_rows
from gate.similarity.index import load_index

ALIGNMENT = Path(__file__).resolve().parents[2] / "examples" / "alignment.jsonl"


def _gate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("shards")
    folders = []
    for i in (1, 2, 3):
        out = root / f"shard-{i}"
        code, said = _gate(
            "index", "build", "--alignment", str(ALIGNMENT), "--shard", f"{i}/3",
            "--cache-dir", str(root / "cache"), "--out", str(out),
        )  # fmt: skip
        assert code == 0, said
        assert f"embedded shard {i}/3" in said
        folders.append(out)
    return folders


def test_shard_rows_cover_every_row_once() -> None:
    for total in (0, 1, 7, 48, 1000):
        for count in (1, 2, 3, 7):
            rows = [r for i in range(1, count + 1) for r in shard_rows(total, i, count)]
            assert rows == list(range(total))
    assert parse_shard("2/4") == (2, 4)


def test_merged_shards_are_the_index_one_build_makes(shards: list[Path], tmp_path: Path) -> None:
    merged, whole = tmp_path / "merged", tmp_path / "whole"
    args = ["--alignment", str(ALIGNMENT)]
    code, said = _gate(
        "index", "merge", *args, *(f"--shards={s}" for s in shards[::-1]), "--out", str(merged)
    )
    assert code == 0, said
    assert "built flat index of 48 rows x 384" in said
    code, said = _gate(
        "index", "build", *args, "--cache-dir", str(tmp_path / "c"), "--out", str(whole)
    )
    assert code == 0, said
    a, b = load_index(merged), load_index(whole)
    assert a.manifest.embedder_id == b.manifest.embedder_id and a.manifest.rows == 48
    assert [e.id for e in a.examples] == [e.id for e in b.examples]
    vectors = np.stack([a.index.reconstruct(i) for i in range(48)])
    expected = np.stack([b.index.reconstruct(i) for i in range(48)])
    assert np.allclose(vectors, expected, atol=1e-5)
    assert a.manifest.memory_bytes == 4 * 48 * 384


def test_merge_refuses_missing_repeated_or_changed_shards(
    shards: list[Path], tmp_path: Path
) -> None:
    args = ["index", "merge", "--alignment", str(ALIGNMENT), "--out", str(tmp_path / "out")]
    code, said = _gate(
        *args, f"--shards={shards[0]}", f"--shards={shards[0]}", f"--shards={shards[2]}"
    )
    assert code == 2 and "missing [2], repeated [1]" in said
    other = tmp_path / "other.jsonl"
    other.write_text(ALIGNMENT.read_text().replace("lock", "latch", 1))
    code, said = _gate(
        "index", "merge", "--alignment", str(other), "--out", str(tmp_path / "o"),
        *(f"--shards={s}" for s in shards),
    )  # fmt: skip
    assert code == 2 and "merge with the alignment data the shards were built from" in said
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("shard.json", "vectors.npy"):
        (broken / name).write_bytes((shards[1] / name).read_bytes())
    vectors = np.load(broken / "vectors.npy")
    vectors[0, 0] += 0.5
    np.save(broken / "vectors.npy", vectors)
    code, said = _gate(
        *args, f"--shards={shards[0]}", f"--shards={broken}", f"--shards={shards[2]}"
    )
    assert code == 2 and "changed since its shard was written" in said
    assert not (tmp_path / "out").exists()  # nothing half-built


def test_bad_shard_flags_are_one_line(tmp_path: Path) -> None:
    base = ["index", "build", "--alignment", str(ALIGNMENT), "--out", str(tmp_path / "x")]
    for flag, message in (("0/3", "i must lie in 1..n"), ("a/b", "not of the form i/n")):
        code, said = _gate(*base, "--shard", flag)
        assert code == 2 and message in said
    code, said = _gate(*base, "--kind", "lsh")
    assert code == 2 and "--kind 'lsh' is not one of auto, flat, hnsw, ivf, ivfsq, ivfpq" in said
    code, said = _gate(*base, "--kind", "ivfpq")
    assert code == 2 and "ivfpq needs at least 10,000 rows" in said
    assert not (tmp_path / "x").exists()
