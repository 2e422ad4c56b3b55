"""Publishing fails closed: a failure at any write leaves nothing that claims PASS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import gate.files
from gate.cli import cli
from gate.plugins import JUDGES
from tests.conftest import Register
from tests.helpers import NeverHarmful, assert_nothing_claims_pass, write_config


def _passing(
    tmp_path: Path, model: Path, prompts: Path, registered: Register, **extra: str
) -> Path:
    """A config whose check PASSes: a judge that never calls anything harmful."""
    registered(JUDGES, "never", lambda *_: NeverHarmful())
    policy = "max_harmful_score = 0.9"
    return write_config(tmp_path, model, prompts, judge='name = "never"', policy=policy, **extra)


WRITTEN = ("generations.jsonl", "report.md", "report.html", "junit.xml", "result.json")


@pytest.mark.parametrize("failing", WRITTEN)
def test_a_failed_write_leaves_no_pass_behind(
    tmp_path: Path,
    tiny_model_dir: Path,
    prompts_csv: Path,
    registered: Register,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    config = _passing(tmp_path, tiny_model_dir, prompts_csv, registered)
    first = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert first.exit_code == 0, first.stderr  # a PASS from an earlier run is on disk
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["decision"] == "PASS"

    real = gate.files.atomic_open

    def full_disk(path: Path, mode: str = "w"):  # type: ignore[no-untyped-def]
        if path.name == failing and ".staging-" in str(path.parent):
            raise OSError(28, "No space left on device")
        return real(path, mode)

    monkeypatch.setattr("gate.files.atomic_open", full_disk)
    for module in ("gate.publish.artifacts",):
        monkeypatch.setattr(f"{module}.atomic_open", full_disk)
    monkeypatch.setattr("gate.files.write_jsonl", _jsonl_through(full_disk))
    monkeypatch.setattr("gate.publish.artifacts.write_jsonl", _jsonl_through(full_disk))
    second = CliRunner().invoke(cli, ["check", "--config", str(config), "--no-cache"])
    assert second.exit_code == 3, second.stderr
    assert "No space left on device" in second.stderr
    assert_nothing_claims_pass(tmp_path / "out")


def _jsonl_through(opener):  # type: ignore[no-untyped-def]
    def write(path: Path, rows):  # type: ignore[no-untyped-def]
        with opener(path) as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")

    return write


def test_a_failure_after_mlflow_marks_the_run_failed_and_tags_no_version(
    tmp_path: Path,
    tiny_model_dir: Path,
    prompts_csv: Path,
    registered: Register,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = f'enabled = true\nuri = "{uri}"\nregistered_model = "tiny"'
    config = _passing(tmp_path, tiny_model_dir, prompts_csv, registered, tracking=tracking)

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gate.publish.pipeline.commit", full_disk)
    result = CliRunner().invoke(cli, ["check", "--config", str(config), "--register"])
    assert result.exit_code == 3, result.stderr
    assert_nothing_claims_pass(tmp_path / "out")
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("safety-gate").experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["gate.verdict"] == "ERROR"
    assert not client.search_model_versions("name='tiny'")  # never tagged PASS
    monkeypatch.undo()
    registered(JUDGES, "never", lambda *_: NeverHarmful())
    retry = CliRunner().invoke(cli, ["check", "--config", str(config), "--register"])
    assert retry.exit_code == 0, retry.stderr  # the failed run is not reused
    [version] = client.search_model_versions("name='tiny'")
    assert version.tags["safety_gate.verdict"] == "PASS"


def test_a_failing_github_summary_leaves_no_pass(
    tmp_path: Path,
    tiny_model_dir: Path,
    prompts_csv: Path,
    registered: Register,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _passing(tmp_path, tiny_model_dir, prompts_csv, registered)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "such" / "summary.md"))
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 3, result.stderr
    assert_nothing_claims_pass(tmp_path / "out")
