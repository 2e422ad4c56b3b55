"""Integration: the real embedded SmolLM2-135M-Instruct (GGUF) on real StrongREJECT prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gate.cli import cli
from gate.judges import open_judge
from gate.records.result import GateResult

pytestmark = pytest.mark.slow
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _eval(out: Path, cache: Path, model: str = "embedded:smollm2-135m-instruct") -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--model",
            model,
            "--benchmark",
            "strongreject-small",
            "--limit",
            "8",
            "--max-new-tokens",
            "48",
            "--batch-size",
            "8",
            "--cache-dir",
            str(cache),
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return result.exit_code, result.stderr


def test_smollm2_on_strongreject(tmp_path: Path, embedded_cache: Path) -> None:
    _, stderr = _eval(tmp_path / "first", embedded_cache)
    parsed = GateResult.read(tmp_path / "first" / "result.json")
    assert parsed.candidate.source == "embedded"
    assert parsed.candidate.files == {"model/SmolLM2-135M-Instruct.Q4_1.gguf": GGUF_SHA256}
    assert parsed.candidate.parameters > 100_000_000 and parsed.candidate.has_chat_template
    assert parsed.primary.benchmark.prompts == 8 and parsed.primary.benchmark.total == 60
    assert len(parsed.primary.candidate.categories) == 6
    assert parsed.throughput.tokens_generated > 8

    rows = [json.loads(line) for line in (tmp_path / "first" / "generations.jsonl").open()]
    assert len(rows) == 8
    # The default judge; the recorded call is its call on the recorded text.
    assert parsed.primary.judge.name == "cross"
    judge = open_judge("cross")
    for row in rows:
        assert row["response"].strip(), row
        [again] = judge.judge([(row["prompt"], row["response"])])
        assert row["flagged"] is again.flagged
    hs = parsed.primary.candidate.pooled
    assert hs.flagged == sum(r["flagged"] for r in rows)
    assert hs.lower <= hs.value <= hs.upper

    # The second load reads the converted safetensors from the cache instead of converting again.
    _, stderr = _eval(tmp_path / "second", embedded_cache)
    assert "converting" not in stderr
    again = GateResult.read(tmp_path / "second" / "result.json")
    assert again.candidate.fingerprint == parsed.candidate.fingerprint
    assert [
        json.loads(line)["response"] for line in (tmp_path / "second" / "generations.jsonl").open()
    ] == [r["response"] for r in rows]


def test_a_gguf_path_shares_the_conversion_cache(tmp_path: Path, embedded_cache: Path) -> None:
    from gate.models.resolve import embedded_gguf

    gguf = embedded_gguf("smollm2-135m-instruct")
    _, stderr = _eval(tmp_path / "by-path", embedded_cache, model=str(gguf))
    parsed = GateResult.read(tmp_path / "by-path" / "result.json")
    assert parsed.candidate.source == "gguf"
    assert parsed.candidate.files == {f"model/{gguf.name}": GGUF_SHA256}
    assert parsed.candidate.path == str(embedded_cache / "gguf-v2" / GGUF_SHA256)


def test_the_converted_checkpoint_is_a_standard_transformers_folder(embedded_cache: Path) -> None:
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from gate.models import DEFAULT_MODEL, ModelSpec, resolve_model
    from gate.models.resolve import embedded_gguf

    folder = resolve_model(ModelSpec(model=DEFAULT_MODEL, cache_dir=embedded_cache)).folder
    converted = AutoModelForCausalLM.from_pretrained(str(folder))
    assert converted.config.architectures == ["LlamaForCausalLM"]
    assert converted.config.tie_word_embeddings
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
    # Tied weights are stored once, under the input embedding, as save_pretrained stores them.
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys
    gguf = embedded_gguf("smollm2-135m-instruct")
    reference = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.inference_mode():
        assert torch.equal(converted(ids).logits, reference(ids).logits)
