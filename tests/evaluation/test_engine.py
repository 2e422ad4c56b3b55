"""The engine's extension points: a backend and a judge added through the public registry API."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict

from gate.cli import cli
from gate.generate import BackendTarget, Generation, GenRequest
from gate.judges import Judgement
from gate.models import ModelInfo
from gate.plugins import BACKENDS, JUDGES
from tests.conftest import Register
from tests.helpers import eval_args, write_config


class EchoOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    answer: str
    repeat: int = 1


class EchoBackend:
    """Answers every prompt with the configured text; counts what it was asked."""

    name = "echo"

    def __init__(self, options: EchoOptions, target: BackendTarget) -> None:
        self.options = options
        self.info = ModelInfo(target.model.model, "memory", "", "f" * 64, {}, None)
        self.cache_identity = "echo"
        self.asked: list[str] = []

    def generate(self, requests: Sequence[GenRequest]) -> Iterator[Generation]:
        for request in requests:
            self.asked.append(request.prompt_id)
            text = " ".join([self.options.answer] * self.options.repeat)
            yield Generation(request.prompt_id, request.sampling, text, 2, "stop", 0.0)


class ThresholdOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    word: str
    threshold: float = 0.5


class WordJudge:
    """Harmful when the answer contains the configured word."""

    name = "word"

    def __init__(self, options: ThresholdOptions, context: object = None) -> None:
        self.options = options

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Judgement]:
        return [
            Judgement(self.options.word in answer, float(self.options.word in answer), "word")
            for _, answer in pairs
        ]


def _config(tmp_path: Path, prompts: Path, model: str, judge: str) -> Path:
    return write_config(tmp_path, Path("unused"), prompts, model=model, judge=judge)


def test_a_registered_backend_and_judge_run_with_their_options(
    tmp_path: Path, prompts_csv: Path, registered: Register
) -> None:
    registered(BACKENDS, "echo", EchoBackend, EchoOptions)
    registered(JUDGES, "word", WordJudge, ThresholdOptions)
    config = _config(
        tmp_path,
        prompts_csv,
        'path = "echo-model"\nbackend = "echo"\nanswer = "sure, step one"\nrepeat = 2',
        'name = "word"\nword = "step"',
    )
    result = CliRunner().invoke(cli, ["check", "--config", str(config), "--no-cache"])
    assert result.exit_code == 1, result.stderr  # every answer says "step": BLOCK
    out = json.loads((tmp_path / "out" / "result.json").read_text())
    assert out["backend"] == {"name": "echo", "options": {"answer": "sure, step one", "repeat": 2}}
    assert out["suites"][0]["judge"] == {
        "name": "word",
        "options": {"word": "step", "threshold": 0.5},
    }
    assert out["candidate"]["spec"] == "echo-model"
    assert out["suites"][0]["candidate"]["pooled"]["value"] == 1.0
    rows = (tmp_path / "out" / "generations.jsonl").read_text().splitlines()
    assert json.loads(rows[0])["response"] == "sure, step one sure, step one"


def test_options_are_validated_by_the_implementation_model(
    tmp_path: Path, prompts_csv: Path, registered: Register
) -> None:
    registered(BACKENDS, "echo", EchoBackend, EchoOptions)
    registered(JUDGES, "word", WordJudge, ThresholdOptions)
    cases = {
        ('backend = "echo"\nanswer = "x"\nrepeat = "many"', 'name = "word"\nword = "x"'): (
            "model.repeat: Input should be a valid integer"
        ),
        ('backend = "echo"', 'name = "word"\nword = "x"'): "model.answer: Field required",
        ('backend = "echo"\nanswer = "x"\ncolour = 1', 'name = "word"\nword = "x"'): (
            "model.colour: unknown key"
        ),
        ('backend = "echo"\nanswer = "x"', 'name = "word"\nthreshold = 2'): (
            "judge.word: Field required"
        ),
        ('backend = "ecko"', 'name = "word"'): "model.backend: unknown generation backend 'ecko'",
        ('backend = "hf"\ndtype = "int3"', 'name = "keyword"'): "model.dtype: Input should be",
        ('backend = "hf"', 'name = "keyword"\nmodel = "x"'): "judge.model: unknown key",
    }
    for (model, judge), message in cases.items():
        config = _config(tmp_path, prompts_csv, f'path = "m"\n{model}', judge)
        result = CliRunner().invoke(cli, ["check", "--config", str(config)])
        assert result.exit_code == 2, (model, judge, result.stderr)
        assert message in result.stderr, (message, result.stderr)
        assert "Traceback" not in result.stderr


def test_unregistered_names_are_gone(registered: Register) -> None:
    registered(JUDGES, "word", WordJudge, ThresholdOptions)
    assert "word" in JUDGES.names()
    JUDGES.unregister("word")
    assert "word" not in JUDGES.names() and "keyword" in JUDGES.names()


def test_eval_and_check_share_one_result_schema(
    tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    from gate.records.result import GateResult

    config = write_config(tmp_path, tiny_model_dir, prompts_csv)
    assert CliRunner().invoke(cli, ["check", "--config", str(config)]).exit_code in (0, 1)
    evaluated = CliRunner().invoke(
        cli,
        eval_args(tiny_model_dir, prompts_csv, tmp_path / "eval", "--max-new-tokens", "3")
        + ["--cache-dir", str(tmp_path / "cache")],
    )
    assert evaluated.exit_code == 0, evaluated.stderr
    check = GateResult.read(tmp_path / "out" / "result.json")
    single = GateResult.read(tmp_path / "eval" / "result.json")
    assert (check.command, single.command) == ("check", "eval")
    assert check.verdict is not None and single.verdict is None
    # The greedy answers are the same generations: eval read them from check's cache.
    assert single.plan.generations_cached == single.plan.generations_spent == 4
    assert single.candidate.fingerprint == check.candidate.fingerprint
    greedy = check.primary.candidate.per_temperature["0"]
    assert single.primary.candidate.pooled.value == greedy.value
