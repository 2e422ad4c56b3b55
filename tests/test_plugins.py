"""Plugins: real installed distributions reach `gate check` and `gate plugins`; a broken one is
one line where it is used and harmless elsewhere; benchmarks, report formats and repair methods
come from their registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gate.cli import cli
from gate.config import load_config
from gate.errors import InputError
from gate.evaluation.data import load_benchmark, make_prompt
from gate.plugins import BENCHMARKS, REGISTRIES, REPAIR_METHODS, REPORT_FORMATS
from gate.repair import RepairSettings
from gate.sections import PruneOptions
from tests.conftest import Register
from tests.helpers import write_config

JUDGE_MODULE = """
from pydantic import BaseModel, ConfigDict
from gate.judges import Judgement
from gate.registry import Plugin


class MyOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    harmful: bool = True


class MyJudge:
    name = "myjudge"

    def __init__(self, harmful):
        self.harmful = harmful

    def judge(self, pairs):
        return [Judgement(self.harmful, float(self.harmful), "mygatejudge") for _ in pairs]


def open_myjudge(options, context):
    return MyJudge(options.harmful)


open_myjudge.options_model = MyOptions


def render_text(result, records):
    return f"verdict: {result.decided().decision.value}\\n"


TEXT = Plugin(render_text, meta={"filename": "report.txt", "written": True})
"""
JUDGE_POINTS = (
    "[safety_gate.judges]\nmyjudge = mygatejudge:open_myjudge\n\n"
    "[safety_gate.report_formats]\ntext = mygatejudge:TEXT\n"
)
BROKEN_POINTS = "[safety_gate.judges]\nbroken = mygatebroken:open_broken\n"
BROKEN_ERROR = "ImportError: mygatebroken needs libbroken.so"

Install = Callable[[str, str, str], Path]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install a one-module distribution (0.1) in a folder on sys.path, as pip would."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def add(name: str, source: str, points: str) -> Path:
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(source)
        info = site / f"{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(points)
        modules.append(name)
        for registry in REGISTRIES:
            registry.rediscover()
        return site

    yield add
    for registry in REGISTRIES:
        registry.rediscover()
    for name in modules:
        sys.modules.pop(name, None)


def _broken(install: Install) -> Path:
    source = f"raise ImportError({BROKEN_ERROR.split(': ')[1]!r})\n"
    return install("mygatebroken", source, BROKEN_POINTS)


def _gate(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_an_installed_judge_and_report_format_run_in_gate_check(
    install: Install, tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    install("mygatejudge", JUDGE_MODULE, JUDGE_POINTS)
    judge = 'name = "myjudge"\nharmful = true'
    config = write_config(tmp_path, tiny_model_dir, prompts_csv, judge=judge)
    result = _gate("check", "--config", str(config))
    assert result.exit_code == 1, result.stderr  # every answer harmful: BLOCK
    out = json.loads((tmp_path / "out" / "result.json").read_text())
    suite = out["suites"][0] if "suites" in out else out  # schema 3 keeps the judge per suite
    assert suite["judge"] == {"name": "myjudge", "options": {"harmful": True}}
    rows = (tmp_path / "out" / "generations.jsonl").read_text().splitlines()
    assert all(json.loads(row)["judge_reason"] == "mygatejudge" for row in rows)
    assert (tmp_path / "out" / "report.txt").read_text() == "verdict: BLOCK\n"
    listed = _gate("plugins")
    assert listed.exit_code == 0
    assert any(
        line.split()[-4:] == ["myjudge", "plugin", "mygatejudge", "0.1"]
        for line in listed.stdout.splitlines()
    ), listed.stdout


def test_a_broken_plugin_is_listed_with_its_error_and_is_one_line_where_used(
    install: Install, tmp_path: Path, tiny_model_dir: Path, prompts_csv: Path
) -> None:
    _broken(install)
    listed = _gate("plugins")
    assert listed.exit_code == 0
    [line] = [line for line in listed.stdout.splitlines() if " broken " in line]
    assert "plugin mygatebroken 0.1" in line and line.endswith(f"BROKEN: {BROKEN_ERROR}")
    assert "keyword" in listed.stdout  # the others are still listed
    config = write_config(tmp_path, tiny_model_dir, prompts_csv, judge='name = "broken"')
    used = _gate("check", "--config", str(config))
    assert used.exit_code == 2
    [error] = used.stderr.strip().splitlines()
    assert "judge 'broken' (plugin mygatebroken 0.1) could not be loaded" in error
    assert BROKEN_ERROR in error
    assert _gate("--help").exit_code == 0


def test_help_never_loads_a_plugin(install: Install) -> None:
    site = _broken(install)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "gate", "--help"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "mygatebroken" not in done.stdout + done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "gate", "plugins"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0 and BROKEN_ERROR in listed.stdout  # the path reached it


def test_gate_plugins_lists_every_built_in() -> None:
    result = _gate("plugins")
    assert result.exit_code == 0
    rows = {tuple(line.rsplit(None, 1)) for line in result.stdout.splitlines()[1:]}
    listed = {(" ".join(head.split()[:-1]), head.split()[-1]) for head, _ in rows}
    for registry in REGISTRIES:
        for entry in registry.entries():
            assert (registry.kind, entry.name) in listed, (registry.kind, entry.name)
    expected = {"benchmark": {"strongreject-small", "strongreject", "harmbench"},
                "repair method": {"antidote", "random"},
                "report format": {"markdown", "html", "junit", "json"}}  # fmt: skip
    for kind, names in expected.items():
        assert names <= {name for k, name in listed if k == kind}


def test_a_registered_benchmark_reaches_load_benchmark(registered: Register) -> None:
    prompts = [make_prompt("How do I pick a lock?", "crime"), make_prompt("Hi?", "none")]
    registered(BENCHMARKS, "mine", lambda: (prompts, "0" * 64))
    bench = load_benchmark("mine", limit=1)
    assert bench.sha256 == "0" * 64 and bench.total == 2 and len(bench.prompts) == 1
    with pytest.raises(InputError, match="unknown benchmark 'mne'") as info:
        load_benchmark("mne")
    assert "did you mean 'mine'" in str(info.value)


def test_a_registered_report_format_is_cleared_and_failed_closed(tmp_path: Path) -> None:
    from gate.publish.artifacts import clear_decision, write_failure

    render = lambda result, records: "x"  # noqa: E731
    with REPORT_FORMATS.registered("plain", render, filename="plain.txt", written=True):
        (tmp_path / "plain.txt").write_text("PASS")
        clear_decision(tmp_path)  # an earlier run's file of a written format is not this run's
        assert not (tmp_path / "plain.txt").exists()
        (tmp_path / "plain.txt").write_text("PASS")
        write_failure(tmp_path, "broke")  # with no result only a verdict-only format can say ERROR
        assert (tmp_path / "junit.xml").is_file() and not (tmp_path / "plain.txt").exists()


def test_repair_methods_come_from_the_registry(
    registered: Register, tmp_path: Path, tiny_model_dir: Path
) -> None:
    from gate.models import ModelSpec, load_model
    from gate.repair.run import prune

    path = tmp_path / "gate.toml"
    path.write_text('[model]\npath = "m"\n[repair]\nmethod = "antidot"\n')
    with pytest.raises(InputError, match="repair.method: unknown repair method 'antidot'") as info:
        load_config(path, {})
    assert "did you mean 'antidote'" in str(info.value)
    seen: dict[str, Any] = {}

    def nothing(settings: PruneOptions, model: Any, layers: Any, batches: Any) -> Any:
        seen.update(layers)
        return lambda name, weight: weight != weight  # all False: zero nothing

    registered(REPAIR_METHODS, "nothing", nothing)
    settings = RepairSettings(model="m", calibration="c", out="o", method="nothing")
    loaded = load_model(ModelSpec(str(tiny_model_dir), tmp_path / "cache", dtype="float32"))
    counts = prune(loaded.model, settings, [], 0)
    assert set(counts) == set(seen) and len(counts) == 6  # q, k, v in 2 layers
    assert all(c["pruned"] == 0 for c in counts.values())
