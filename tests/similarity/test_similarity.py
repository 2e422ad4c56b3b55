from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gate.cli import cli
from gate.plugins import EMBEDDERS
from gate.similarity.examples import Example
from gate.similarity.score import SimilarityResult, summarize
from tests.conftest import Register
from tests.helpers import build_index

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _jsonl(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _similarity(tmp_path: Path, index: Path, finetune: Path, name: str = "sim") -> Result:
    result = invoke(
        "similarity",
        "--index",
        str(index),
        "--finetune",
        str(finetune),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / name),
    )
    assert result.exit_code == 0, result.stderr
    return result


def _read(tmp_path: Path, name: str = "sim") -> SimilarityResult:
    return SimilarityResult.model_validate_json((tmp_path / name / "similarity.json").read_text())


def test_identical_sets_score_near_one(tmp_path: Path) -> None:
    alignment = EXAMPLES / "alignment.jsonl"
    _similarity(tmp_path, build_index(tmp_path, alignment), alignment)
    result = _read(tmp_path)
    assert result.finetune_summary.p50 > 0.99 and result.alignment_summary.mean > 0.99
    assert result.finetune_summary.share_above == 1.0
    assert all(s.neighbours[0].id == s.id for s in result.finetune_scores)


def test_unrelated_sets_score_low(tmp_path: Path) -> None:
    maths = _jsonl(
        tmp_path / "maths.jsonl",
        [
            {"prompt": f"What is {a} plus {b}?", "response": f"{a} plus {b} is {a + b}."}
            for a, b in [(2, 3), (17, 25), (100, 1), (9, 9), (41, 58)]
        ],
    )
    _similarity(tmp_path, build_index(tmp_path, EXAMPLES / "alignment.jsonl"), maths)
    result = _read(tmp_path)
    assert result.finetune_summary.max < 0.35
    assert result.finetune_summary.share_above == 0.0


def test_report_shape_and_cache_hit_on_rerun(tmp_path: Path) -> None:
    index = build_index(tmp_path, EXAMPLES / "alignment.jsonl")
    first = _similarity(tmp_path, index, EXAMPLES / "finetune.jsonl", "first")
    assert "embedded 40 new texts" in first.stdout
    assert "Most similar pairs" in first.stdout
    again = _similarity(tmp_path, index, EXAMPLES / "finetune.jsonl", "again")
    assert "embedded 0 new texts" in again.stdout
    one, two = _read(tmp_path, "first"), _read(tmp_path, "again")
    assert one.finetune_scores == two.finetune_scores
    assert len(one.finetune_scores) == 40 and len(one.alignment_scores) == 48
    assert len(one.finetune_scores[0].neighbours) == 5 and len(one.top_pairs) == 10
    cosines = [p.cosine for p in one.top_pairs]
    assert cosines == sorted(cosines, reverse=True)
    assert cosines[0] == one.finetune_summary.max


def test_summary_statistics() -> None:
    summary = summarize(np.array([0.1, 0.2, 0.3, 0.9], dtype=np.float32), threshold=0.25)
    assert summary.count == 4 and summary.max == pytest.approx(0.9)
    assert summary.mean == pytest.approx(0.375) and summary.share_above == 0.5


class AxisEmbedder:
    """Hand-made vectors: each text points along the axis of the topic word it contains."""

    name = "axes"
    id = "axes:test"
    dim = 4
    topics = ("cooking", "gardening", "lockpicking", "hacking")

    def text_of(self, example: Example) -> str:
        return example.text

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for axis, topic in enumerate(self.topics):
                rows[row, axis] = text.count(topic)
            rows[row] += 0.01  # never a zero vector
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_select_returns_the_right_rows(tmp_path: Path, registered: Register) -> None:
    registered(EMBEDDERS, "axes", lambda **_: AxisEmbedder())
    alignment = _jsonl(
        tmp_path / "alignment.jsonl",
        [
            {"prompt": "cooking", "response": "no"},
            {"prompt": "hacking hacking", "response": "no"},
            {"prompt": "gardening", "response": "no"},
            {"prompt": "lockpicking and hacking", "response": "no"},
            {"prompt": "cooking and gardening", "response": "no"},
        ],
    )
    finetune = _jsonl(
        tmp_path / "ft.jsonl", [{"prompt": "hacking", "response": "a hacking answer"}]
    )
    index = build_index(tmp_path, alignment, "--embedder", "axes")
    common = [
        "--index",
        str(index),
        "--finetune",
        str(finetune),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    high = invoke("select", *common, "--high", "2", "--out", str(tmp_path / "high.jsonl"))
    assert high.exit_code == 0, high.stderr
    low = invoke("select", *common, "--low", "3", "--out", str(tmp_path / "low.jsonl"))
    assert low.exit_code == 0, low.stderr
    picked = {
        name: [json.loads(line)["prompt"] for line in (tmp_path / f"{name}.jsonl").open()]
        for name in ("high", "low")
    }
    assert picked["high"] == ["hacking hacking", "lockpicking and hacking"]
    # The three unrelated rows differ only by the 0.01 offset, so compare them as a set.
    assert sorted(picked["low"]) == ["cooking", "cooking and gardening", "gardening"]
    assert "least similar alignment examples" in low.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "pass exactly one of --low K, --high K or --random K"),
        (["--low", "1", "--high", "1"], "pass exactly one of --low K, --high K or --random K"),
        (["--low", "1", "--random", "1"], "pass exactly one of --low K, --high K or --random K"),
        (["--low", "500"], "asked for 500 examples but the index holds 48"),
        (["--random", "49"], "asked for 49 examples but the index holds 48"),
    ],
)
def test_select_bad_counts(tmp_path: Path, flags: list[str], message: str) -> None:
    index = build_index(tmp_path, EXAMPLES / "alignment.jsonl")
    result = CliRunner().invoke(
        cli,
        [
            "select",
            "--index",
            str(index),
            "--finetune",
            str(EXAMPLES / "finetune.jsonl"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "o.jsonl"),
            *flags,
        ],
    )
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_select_random_is_a_seeded_draw_of_distinct_rows(tmp_path: Path) -> None:
    index = build_index(tmp_path, EXAMPLES / "alignment.jsonl")
    every = [json.loads(line) for line in (EXAMPLES / "alignment.jsonl").open()]

    def draw(seed: int, name: str) -> list[dict[str, object]]:
        out = tmp_path / f"{name}.jsonl"
        result = invoke("select", "--index", str(index), "--finetune",
                        str(EXAMPLES / "finetune.jsonl"), "--cache-dir", str(tmp_path / "cache"),
                        "--random", "10", "--seed", str(seed), "--out", str(out))  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert f"wrote 10 random (seed {seed}) alignment examples" in result.stdout
        return [json.loads(line) for line in out.open()]

    first, again, other = draw(3, "a"), draw(3, "b"), draw(4, "c")
    assert first == again and first != other
    # Records are written as read, each once, in the file's order.
    assert len({json.dumps(r) for r in first}) == 10
    rows = [every.index(record) for record in first]
    assert rows == sorted(rows)


def test_hidden_state_index_end_to_end(
    tmp_path: Path, tiny_model_dir: Path, tiny_tokenizer: object
) -> None:
    from tests.conftest import build_model, save_model

    index = build_index(
        tmp_path,
        EXAMPLES / "alignment.jsonl",
        "--embedder",
        "hidden-state",
        "--model",
        str(tiny_model_dir),
    )
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["embedder"] == "hidden-state" and manifest["model"] == str(tiny_model_dir)
    assert manifest["dim"] == 32
    # The base model recorded in the manifest is used again without being named.
    _similarity(tmp_path, index, EXAMPLES / "finetune.jsonl")
    assert len(_read(tmp_path).finetune_scores) == 40
    # Another base model embeds differently: refused, not silently compared.
    other = save_model(tmp_path / "other", build_model(tiny_tokenizer, seed=5), tiny_tokenizer)
    result = CliRunner().invoke(
        cli,
        [
            "similarity",
            "--index",
            str(index),
            "--finetune",
            str(EXAMPLES / "finetune.jsonl"),
            "--model",
            str(other),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2
    assert "the index was built with embedder hidden-state:" in result.stderr


def test_malformed_alignment_record(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "no answer"}\n')
    result = CliRunner().invoke(
        cli, ["index", "build", "--alignment", str(bad), "--out", str(tmp_path / "index")]
    )
    assert result.exit_code == 2
    assert "bad.jsonl:2: field 'response' is missing" in result.stderr
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["index", "build", "--alignment", "", "--out", "idx"], "--alignment"),
        (["similarity", "--index", "idx", "--finetune", " ", "--out", "o"], "--finetune"),
        (
            ["select", "--index", "i", "--finetune", "f", "--out", "o", "--prompt-field", ""],
            "--prompt-field",
        ),
    ],  # fmt: skip
)
def test_an_empty_name_is_one_line_and_exit_2(command: list[str], flag: str) -> None:
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2 and result.stderr.strip() == f"error: {flag} is empty"
