"""Suites: a second suite registered from outside reaches every consumer with no branch for it.

The suite kind, its benchmark and its judge are all added through the registries' public API,
as a plugin would; the figures, the policy rule on its quantity, the reports, MLflow and the
early-stopping looks then read it by name.
"""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner

from gate.cli import cli
from gate.evaluation.data import make_prompt
from gate.judges import Judgement
from gate.plugins import BENCHMARKS, JUDGES, SUITES
from tests.conftest import Register
from tests.helpers import NeverHarmful, echo_kind, write_config


class EchoJudge:
    """Flags an answer that contains the letter e: deterministic, and not every answer."""

    name = "echo-judge"

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Judgement]:
        return [Judgement("e" in answer, float("e" in answer), "e") for _, answer in pairs]


def echo_prompts() -> tuple[list[object], str]:
    texts = [f"Say the word number {i} back to me." for i in range(6)]
    prompts = [make_prompt(t, "greeting" if i % 2 else "numbers") for i, t in enumerate(texts)]
    return prompts, "1" * 64


def _register(registered: Register) -> None:
    registered(SUITES, "echoes", echo_kind)
    registered(BENCHMARKS, "echo-prompts", echo_prompts)
    registered(JUDGES, "echo-judge", lambda *_: EchoJudge(), family="echo")
    registered(JUDGES, "never", lambda *_: NeverHarmful(), family="harm")


def _config(tmp_path: Path, model: Path, prompts: Path, rule: str, **extra: str) -> Path:
    path = write_config(
        tmp_path,
        model,
        prompts,
        judge='name = "never"',
        policy=f"max_harmful_score = 1.0\n{rule}",
        tracking=f'enabled = true\nuri = "sqlite:///{tmp_path / "mlflow.db"}"',
        **extra,
    )
    suites = '\n[[suites]]\nkind = "harmful"\n\n[[suites]]\nkind = "echoes"\n'
    path.write_text(path.read_text() + suites)
    return path


def test_a_registered_suite_gets_figures_a_rule_reports_and_metrics(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path, registered: Register
) -> None:
    _register(registered)
    config = _config(tmp_path, tiny_model_dir, prompts_csv, "max_echo_rate = 0.99")
    result = CliRunner().invoke(cli, ["check", "--config", str(config), "--no-cache"])
    out = tmp_path / "out"
    written = json.loads((out / "result.json").read_text())
    suites = {suite["name"]: suite for suite in written["suites"]}
    assert list(suites) == ["harmful", "echoes"]
    echo = suites["echoes"]
    assert echo["quantity"] == "echo_rate" and echo["benchmark"]["name"] == "echo-prompts"
    assert echo["candidate"]["pooled"]["prompts"] == 6
    assert set(echo["candidate"]["categories"]) == {"greeting", "numbers"}
    assert set(echo["candidate"]["per_temperature"]) == {"0", "0.7"}
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    echoed = [r for r in rows if r["suite"] == "echoes"]
    # 6 prompts x (greedy + 2 seeds at T=0.7), each flagged by the judge's own rule
    assert len(echoed) == 18
    assert echo["candidate"]["pooled"]["flagged"] == sum("e" in r["response"] for r in echoed)
    rule = {r["rule"]: r for r in written["verdict"]["rules"]}["max_echo_rate"]
    assert rule["quantity"] == "echo_rate" and rule["value"] == echo["candidate"]["pooled"]["value"]
    assert result.exit_code == (0 if rule["passed"] else 1), result.stderr
    assert "## Echo rate (fraction of answers judged echoed)" in (out / "report.md").read_text()
    assert "Echo rate by category" in (out / "report.html").read_text()
    cases = [c.get("name") for c in ET.parse(out / "junit.xml").getroot()]
    assert "max_echo_rate" in cases
    assert "echo rate" in result.stdout
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        metrics = {key for (key,) in db.execute("select key from metrics")}
    assert {"hs", "echo", "echo_lower", "echo_upper", "echo_t0.7"} <= metrics
    assert "category.greeting.echo" in metrics


def test_the_new_quantity_blocks_when_it_crosses_its_threshold(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path, registered: Register
) -> None:
    _register(registered)
    config = _config(
        tmp_path,
        tiny_model_dir,
        prompts_csv,
        "max_echo_rate = -0.5",
        early_stopping="enabled = false",
    )
    result = CliRunner().invoke(cli, ["check", "--config", str(config), "--no-cache"])
    assert result.exit_code == 1, result.stderr  # no rate is below zero: BLOCK on that rule alone
    rules = json.loads((tmp_path / "out" / "verdict.json").read_text())["rules"]
    failed = [r["rule"] for r in rules if not r["passed"]]
    assert failed == ["max_echo_rate"], rules


def test_a_rule_for_a_suite_that_is_not_configured_is_one_line_and_exit_2(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    config = write_config(tmp_path, tiny_model_dir, prompts_csv, policy="max_echo_rate = 0.2")
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {config}: policy.max_echo_rate: no configured suite measures 'echo_rate'"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_suite_with_a_judge_of_the_wrong_family_is_exit_2(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path, registered: Register
) -> None:
    _register(registered)
    config = write_config(tmp_path, tiny_model_dir, prompts_csv)
    config.write_text(config.read_text() + '\n[[suites]]\nkind = "echoes"\njudge = "keyword"\n')
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 2
    assert (
        "suites[0].judge: 'keyword' is a 'harm' judge; suite 'echoes' needs a judge of the "
        "'echo' family"
    ) in result.stderr


def test_an_unknown_suite_kind_suggests_the_known_ones(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    config = write_config(tmp_path, tiny_model_dir, prompts_csv)
    config.write_text(config.read_text() + '\n[[suites]]\nkind = "harmfull"\n')
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown suite kind 'harmfull' (did you mean 'harmful'?)" in result.stderr
