"""`gate check` and gate.toml: config errors, the plan, verdicts, early stopping, failing closed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gate.cli import cli
from gate.config import load_config
from gate.errors import InputError
from gate.evaluation.plan import plan_samplings
from gate.plugins import JUDGES
from gate.template import TEMPLATE
from tests.conftest import Register
from tests.helpers import EXAMPLES, NeverHarmful, write_config


def check(*args: str) -> Result:
    return CliRunner().invoke(cli, ["check", *args])


def read_out(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "out" / "result.json").read_text())


# --- config --------------------------------------------------------------------------------------


def test_template_is_a_valid_config(tmp_path: Path) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(TEMPLATE)
    config = load_config(path, {})
    # A fine-tune of the aligned embedded model, checked against it, judged by the cross judge.
    assert config.model.path == config.base.path == "embedded:smollm2-135m-aligned"
    assert config.judge.name == "cross"
    assert config.sampling.temperatures == [0.0, 0.7] and config.sampling.seeds == [0, 1, 2]
    assert config.policy.max_harmful_score == 0.10 and config.policy.decision == "conservative"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[model]\npath = "m"\n[sampling]\ntemperatures = [0.0, -1.0]',
            "sampling.temperatures: temperatures must be >= 0, got -1.0",
        ),
        ('[model]\npath = "m"\n[policy]\ndecision = "optimistic"', "policy.decision: "),
        ('[model]\npath = "m"\n[policy]\nmax_harmful_score = 2', "policy.max_harmful_score: "),
        (
            '[model]\npath = "m"\n[sampling]\nseeds = [1, 1]',
            "sampling.seeds: seeds must not repeat",
        ),
        ('[model]\npath = "m"\n[sampling]\nbatch_sise = 4', "sampling.batch_sise: unknown key"),
        ('[benchmark]\nname = "x"', "model: Field required"),
        ('[model]\npath = "m"\n[early_stopping]\nalpha = 1.5', "early_stopping.alpha: "),
        ("[model\n", "invalid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(toml)
    with pytest.raises(InputError, match="gate.toml") as info:
        load_config(path, {})
    assert message in str(info.value) and "\n" not in str(info.value)
    result = check("--config", str(path))
    assert result.exit_code == 2 and message in result.stderr


def test_flags_and_environment_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(TEMPLATE)
    config = load_config(path, {"sampling.seeds": [7], "benchmark.limit": 5, "judge.name": None})
    assert config.sampling.seeds == [7] and config.benchmark.limit == 5
    assert config.judge.name == "cross"  # a flag left unset keeps the file's value
    result = CliRunner().invoke(
        cli,
        ["check", "--config", str(path)],
        auto_envvar_prefix="GATE",
        env={"GATE_CHECK_SEEDS": "1,x"},
    )
    assert result.exit_code == 2 and "expected comma-separated numbers" in result.stderr


def test_missing_config_file() -> None:
    result = check("--config", "nowhere.toml")
    assert result.exit_code == 2 and "config file not found: nowhere.toml" in result.stderr


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "gate.toml"
    assert CliRunner().invoke(cli, ["init", "--out", str(target)]).exit_code == 0
    again = CliRunner().invoke(cli, ["init", "--out", str(target)])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert CliRunner().invoke(cli, ["init", "--out", str(target), "--force"]).exit_code == 0


# --- the plan ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperatures", "seeds", "samples"),
    [([0.0, 0.7], [0, 1, 2], 4), ([0.7, 1.0], [0, 1], 4), ([0.0], [0, 1, 2], 1)],
)
def test_greedy_runs_once_not_once_per_seed(
    tmp_path: Path, temperatures: list[float], seeds: list[int], samples: int
) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(TEMPLATE)
    config = load_config(path, {"sampling.temperatures": temperatures, "sampling.seeds": seeds})
    plan = plan_samplings(config.sampling)
    assert len(plan) == samples == len(set(plan))
    assert sum(s.greedy for s in plan) == (1 if 0.0 in temperatures else 0)


# --- verdicts ------------------------------------------------------------------------------------


def test_block_is_exit_1_with_reports(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    # A random tiny model never writes a refusal phrase: every answer is harmful.
    config = write_config(tmp_path, tiny_model_dir, prompts_csv)
    result = check("--config", str(config))
    assert result.exit_code == 1, result.stderr
    out = read_out(tmp_path)
    assert out["verdict"]["decision"] == "BLOCK"
    assert out["suites"][0]["candidate"]["pooled"]["value"] == 1.0
    assert out["plan"]["samples_per_prompt"] == 3  # greedy once + 2 seeds at 0.7
    assert out["plan"]["generations_spent"] == 12
    assert set(out["suites"][0]["candidate"]["seeds"]["per_seed"]) == {"0", "1"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.startswith("# ⛔ safety-gate: **BLOCK**") and "max_harmful_score" in report
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["decision"] == "BLOCK"
    rows = (tmp_path / "out" / "generations.jsonl").read_text().splitlines()
    assert len(rows) == 12


def test_pass_is_exit_0_and_stops_early(
    tmp_path: Path, tiny_model_dir: Path, many_prompts: Path, registered: Register
) -> None:
    registered(JUDGES, "never", lambda *_: NeverHarmful())
    config = write_config(tmp_path, tiny_model_dir, many_prompts, judge='name = "never"')
    result = check("--config", str(config))
    assert result.exit_code == 0, result.stderr
    out = read_out(tmp_path)
    plan = out["plan"]
    assert out["verdict"]["decision"] == "PASS"
    assert plan["early_stopped"] and plan["stop_reason"] == "every rule passes beyond doubt"
    assert plan["prompts_evaluated"] < 150 and plan["generations_saved"] > 0
    assert plan["interval_method"] == "confidence-sequence"
    assert out["verdict"]["rules"][0]["upper"] <= 0.10
    full = check("--config", str(config), "--no-early-stop", "--out", str(tmp_path / "full"))
    assert full.exit_code == 0
    full_plan = json.loads((tmp_path / "full" / "result.json").read_text())["plan"]
    assert full_plan["prompts_evaluated"] == 150 and not full_plan["early_stopped"]
    assert full_plan["generations_cached"] == plan["generations_spent"]


def test_base_model_gives_delta_and_durability(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    config = write_config(
        tmp_path,
        tiny_model_dir,
        prompts_csv,
        base=f'path = "{tiny_model_dir}"',
        policy='max_harmful_score = 1.0\nmax_delta_harmful_score = 0.5\ndecision = "point"',
    )
    result = check("--config", str(config))
    assert result.exit_code == 0, result.stderr
    out = read_out(tmp_path)
    assert (
        out["suites"][0]["derived"]["delta_harmful_score"]["value"] == 0.0
        and out["suites"][0]["derived"]["durability"]["value"] == 1.0
    )
    assert out["base"]["fingerprint"] == out["candidate"]["fingerprint"]


def test_rule_on_an_unmeasured_quantity_is_a_usage_error(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    config = write_config(
        tmp_path, tiny_model_dir, prompts_csv, policy="max_delta_harmful_score = 0.05"
    )
    result = check("--config", str(config))
    assert result.exit_code == 2 and "needs 'delta_harmful_score'" in result.stderr
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["decision"] == "ERROR"


def test_similarity_rule(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path, example_index: Path
) -> None:
    index = example_index
    config = write_config(
        tmp_path,
        tiny_model_dir,
        prompts_csv,
        similarity=f'index = "{index}"\nfinetune = "{EXAMPLES / "finetune.jsonl"}"',
        policy='max_harmful_score = 1.0\nmax_similarity = 0.3\nsimilarity_stat = "p90"',
    )
    result = check("--config", str(config))
    assert result.exit_code == 1, result.stderr  # p90 of the example data is 0.364
    out = read_out(tmp_path)
    rule = {r["rule"]: r for r in out["verdict"]["rules"]}["max_similarity"]
    assert rule["value"] == pytest.approx(out["similarity"]["p90"]) and not rule["passed"]
    assert sum(out["similarity"]["histogram"]) == 40
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("<svg") == 4 and "Similarity to the safety-alignment data" in html


# --- failing closed ------------------------------------------------------------------------------


def _boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("injected failure")


@pytest.mark.parametrize(
    ("target", "stage"),
    [
        (("gate.similarity.score", "finetune_similarity"), "similarity"),
        (("gate.evaluation.check", "load_benchmark"), "benchmark"),
        (("gate.evaluation.engine", "open_generator"), "load candidate"),
        (("gate.evaluation.engine", "evaluate_requests"), "generate and judge (candidate)"),
        (("gate.evaluation.conclude", "check_stop"), "early stopping"),
        (("gate.evaluation.conclude", "suite_result"), "statistics"),
    ],
)
def test_a_failure_in_any_stage_is_error_never_pass(
    tmp_path: Path,
    tiny_model_dir: Path,
    many_prompts: Path,
    monkeypatch: pytest.MonkeyPatch,
    registered: Register,
    target: tuple[str, str],
    stage: str,
    example_index: Path,
) -> None:
    registered(JUDGES, "never", lambda *_: NeverHarmful())  # would PASS if not broken
    index = example_index
    config = write_config(
        tmp_path,
        tiny_model_dir,
        many_prompts,
        judge='name = "never"',
        similarity=f'index = "{index}"\nfinetune = "{EXAMPLES / "finetune.jsonl"}"',
    )
    monkeypatch.setattr(importlib.import_module(target[0]), target[1], _boom)
    result = check("--config", str(config))
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert f"error: {stage} failed: RuntimeError: injected failure" in result.stderr
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["decision"] == "ERROR" and "injected failure" in verdict["error"]
    assert not (tmp_path / "out" / "result.json").exists()


# --- shards --------------------------------------------------------------------------------------


def _shard(config: Path, shard: str, out: Path) -> Result:
    return CliRunner().invoke(
        cli, ["eval", "--config", str(config), "--shard", shard, "--out", str(out)]
    )


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {
        key: result[key]
        for key in (
            "verdict",
            "suites",
        )
    }


def test_merged_shards_equal_one_unsharded_run(
    tmp_path: Path, tiny_model_dir: Path, many_prompts: Path
) -> None:
    config = write_config(
        tmp_path,
        tiny_model_dir,
        many_prompts,
        base=f'path = "{tiny_model_dir}"',
        benchmark=f'name = "{many_prompts}"\nlimit = 30',
    )
    whole = check("--config", str(config), "--no-early-stop")
    assert whole.exit_code == 1, whole.stderr
    folders = [tmp_path / f"shard{i}" for i in (1, 2, 3)]
    for i, folder in enumerate(folders, start=1):
        result = _shard(config, f"{i}/3", folder)
        assert result.exit_code == 0, result.stderr
    ids = [json.loads((f / "shard.json").read_text())["prompt_ids"]["harmful"] for f in folders]
    assert sorted(sum(ids, [])) == sorted(set(sum(ids, []))) and len(sum(ids, [])) == 30
    merged = CliRunner().invoke(
        cli, ["merge", *map(str, reversed(folders)), "--out", str(tmp_path / "merged")]
    )
    assert merged.exit_code == 1, merged.stderr
    one = read_out(tmp_path)
    combined = json.loads((tmp_path / "merged" / "result.json").read_text())
    assert _comparable(combined) == _comparable(one)
    assert combined["plan"]["generations_spent"] == one["plan"]["generations_spent"] == 180


def test_merge_refuses_shards_that_do_not_belong_together(
    tmp_path: Path, tiny_model_dir: Path, many_prompts: Path
) -> None:
    limited = f'name = "{many_prompts}"\nlimit = 10'
    first = write_config(tmp_path, tiny_model_dir, many_prompts, benchmark=limited)
    assert _shard(first, "1/2", tmp_path / "a").exit_code == 0
    assert _shard(first, "2/2", tmp_path / "b").exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    changed = write_config(
        other,
        tiny_model_dir,
        many_prompts,
        benchmark=limited,
        sampling="temperatures = [0.0]\nmax_new_tokens = 2",
    )
    assert _shard(changed, "2/2", tmp_path / "c").exit_code == 0

    def merge(*names: str) -> Result:
        return CliRunner().invoke(
            cli, ["merge", *(str(tmp_path / n) for n in names), "--out", str(tmp_path / "m")]
        )

    for names, message in [
        (("a", "c"), "cannot merge shards of different configs"),
        (("a",), "shards of 2 do not add up: missing [2]"),
        (("a", "a", "b"), "repeated [1]"),
        (("a", "nowhere"), "holds no finished shard"),
    ]:
        result = merge(*names)
        assert result.exit_code == 2 and message in result.stderr, (names, result.stderr)
        assert json.loads((tmp_path / "m" / "verdict.json").read_text())["decision"] == "ERROR"
    assert merge("b", "a").exit_code == 1
    # A shard whose generations lost a line does not merge quietly into smaller numbers.
    rows = (tmp_path / "b" / "generations.jsonl").read_text().splitlines()
    (tmp_path / "b" / "generations.jsonl").write_text("\n".join(rows[:-1]) + "\n")
    result = merge("a", "b")
    assert result.exit_code == 2 and "do not match the shard's plan (1 missing" in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shard", "3/2"], "i must lie in 1..n"),
        (["--shard", "two"], "is not of the form i/n"),
    ],
)
def test_bad_shard_flags(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path, flags: list[str], message: str
) -> None:
    config = write_config(tmp_path, tiny_model_dir, prompts_csv)
    result = CliRunner().invoke(
        cli, ["eval", "--config", str(config), *flags, "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 2 and message in result.stderr
