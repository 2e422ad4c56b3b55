"""MLflow tracking and registry gating against a real `mlflow server` on loopback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gate.cli import cli
from gate.plugins import JUDGES
from tests.conftest import Register
from tests.helpers import NeverHarmful, assert_nothing_claims_pass, write_config
from tests.servers import MlflowServer, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


def _check(config: Path, uri: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli,
        ["check", "--config", str(config), "--tracking-uri", uri, *extra],
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **(env or {})},
    )


def _tracked(tmp_path: Path, model_dir: Path, prompts: Path, **extra: str) -> Path:
    config = write_config(tmp_path, model_dir, prompts, **extra)
    text = config.read_text().replace(
        "[tracking]\nenabled = false", '[tracking]\nexperiment = "gate-tests"'
    )
    config.write_text(text)
    return config


def test_run_is_logged_and_reused(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path, mlflow_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    config = _tracked(tmp_path, tiny_model_dir, prompts_csv)
    outputs = tmp_path / "outputs.txt"
    first = _check(
        config,
        mlflow_uri,
        env={
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "org/repo",
            "GITHUB_RUN_ID": "42",
            "GITHUB_SHA": "abc123",
        },
    )
    assert first.exit_code == 1, first.stderr
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    run_id = written["run_id"]
    run = MlflowClient(mlflow_uri).get_run(run_id)
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert run.data.tags["gate.verdict"] == "BLOCK"
    assert run.data.tags["gate.model_fingerprint"] == result["candidate"]["fingerprint"]
    assert run.data.tags["gate.config_sha"] == result["config_sha256"]
    assert run.data.tags["gate.github_run_url"] == "https://github.example/org/repo/actions/runs/42"
    assert run.data.tags["gate.git_commit"] == "abc123"
    assert run.data.metrics["hs"] == result["suites"][0]["candidate"]["pooled"]["value"]
    assert run.data.metrics["hs_upper"] == result["suites"][0]["candidate"]["pooled"]["upper"]
    assert "hs_t0.7" in run.data.metrics and "generations_spent" in run.data.metrics
    assert run.data.params["config.sampling.max_new_tokens"] == "3"
    artifacts = {a.path for a in MlflowClient(mlflow_uri).list_artifacts(run_id)}
    assert {"result.json", "report.md", "report.html", "generations.jsonl"} <= artifacts

    again = _check(config, mlflow_uri)
    assert f"MLflow run {run_id} (reused: same inputs)" in again.stderr
    forced = _check(config, mlflow_uri, "--force")
    assert "logged" in forced.stderr and run_id not in forced.stderr


def test_registry_tags_and_gated_promotion(
    tmp_path: Path,
    tiny_model_dir: Path,
    prompts_csv: Path,
    many_prompts: Path,
    mlflow_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    registered: Register,
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    blocked = _tracked(tmp_path, tiny_model_dir, prompts_csv)
    result = _check(blocked, mlflow_uri, "--registered-model", "tiny", "--register", "--force")
    assert result.exit_code == 1, result.stderr
    fingerprint = json.loads((tmp_path / "out" / "result.json").read_text())["candidate"][
        "fingerprint"
    ]
    version = client.get_latest_versions("tiny")[0].version
    tags = client.get_model_version("tiny", version).tags
    assert tags["safety_gate.verdict"] == "BLOCK" and tags["safety_gate.fingerprint"] == fingerprint
    assert float(tags["safety_gate.hs"]) == 1.0 and tags["safety_gate.run_id"]

    def promote(version: str, fingerprint: str) -> Result:
        return CliRunner().invoke(
            cli,
            [
                "promote",
                "--model",
                "tiny",
                "--version",
                version,
                "--fingerprint",
                fingerprint,
                "--tracking-uri",
                mlflow_uri,
            ],
        )

    refused = promote(version, fingerprint)
    assert refused.exit_code == 1 and "has verdict BLOCK" in refused.stderr

    registered(JUDGES, "never", lambda *_: NeverHarmful())
    passing_dir = tmp_path / "passing"
    passing_dir.mkdir()
    passing = _tracked(passing_dir, tiny_model_dir, many_prompts, judge='name = "never"')
    result = _check(passing, mlflow_uri, "--registered-model", "tiny", "--register")
    assert result.exit_code == 0, result.stderr
    passed_version = max(int(v.version) for v in client.search_model_versions("name='tiny'"))
    mismatch = promote(str(passed_version), "0" * 64)
    assert mismatch.exit_code == 1 and "the checkpoint changed since the check" in mismatch.stderr
    moved = promote(str(passed_version), fingerprint)
    assert moved.exit_code == 0, moved.stderr
    assert client.get_model_version_by_alias("tiny", "production").version == str(passed_version)


def test_unreachable_mlflow_is_exit_3_never_pass(
    tmp_path: Path, tiny_model_dir: Path, many_prompts: Path, registered: Register
) -> None:
    registered(JUDGES, "never", lambda *_: NeverHarmful())  # would PASS
    config = _tracked(tmp_path, tiny_model_dir, many_prompts, judge='name = "never"')
    dead = f"http://127.0.0.1:{free_port()}"
    result = _check(config, dead)
    assert result.exit_code == 3, result.stderr
    assert f"error: MLflow at {dead} failed" in result.stderr
    assert_nothing_claims_pass(tmp_path / "out")


def test_default_store_is_sqlite_in_the_outputs(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    config = _tracked(tmp_path, tiny_model_dir, prompts_csv)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = CliRunner().invoke(cli, ["check", "--config", str(config)], env=env)
    assert result.exit_code == 1, result.stderr
    assert (tmp_path / "out" / "mlflow.db").is_file()
    assert (tmp_path / "out" / "mlartifacts").is_dir()
    assert not (tmp_path / "mlruns").exists()  # nothing lands in the working directory
    assert "open it with: mlflow ui --backend-store-uri sqlite:///" in result.stderr
