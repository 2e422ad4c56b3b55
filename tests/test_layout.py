"""The layout's promises: small modules, short functions, and a monitor that stays light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "gate").rglob("*.py"), *(ROOT / "monitor").rglob("*.py")])
MAX_LINES = 400
MAX_FUNCTION_LINES = 60
# A click command's body is its signature: one parameter per flag. Long by nature, flat in logic.
LONG_ALLOWED = {"check_command", "eval_command"}


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in SOURCES
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_no_function_is_over_60_lines() -> None:
    long = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and node.name not in LONG_ALLOWED:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert not long, long


def _modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


# The one direction of imports: each stage imports only from those before it. `ground` is the
# shared floor (config, errors, files, the registries); `records` are the records that cross
# stages, below everything that produces or reads them.
LAYERS = (
    "ground",
    "models",
    "generate",
    "similarity",
    "judges",
    "attacks",
    "records",
    "evaluation",
    "policy",
    "publish",
    "finetune",
    "repair",
    "pipeline",
    "cli",
)
PACKAGES = {"models", "generate", "similarity", "judges", "attacks", "records", "evaluation"}
PACKAGES |= {"publish"}
PACKAGES |= {"finetune", "repair", "pipeline", "cli", "policy"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "gate":
        return None
    if len(parts) > 1 and parts[1] in PACKAGES:
        return parts[1]
    return "ground"


def _gate_imports(path: Path) -> list[str]:
    """Every gate module `path` imports, at module level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.split(".")[0] == "gate"]


def test_imports_run_one_way_from_cli_down_to_the_ground() -> None:
    upward = []
    for path in sorted((ROOT / "gate").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module == "gate.__main__":  # `python -m gate` runs the CLI: the top, not the floor
            continue
        source = _layer(module)
        assert source is not None
        for name in _gate_imports(path):
            target = _layer(name)
            if target is not None and LAYERS.index(target) > LAYERS.index(source):
                upward.append(f"{module} ({source}) imports {name} ({target})")
    assert not upward, upward


def test_the_config_imports_no_stage() -> None:
    loaded = _modules_after("import gate.config")
    stages = [m for m in loaded if _layer(m) not in (None, "ground")]
    assert not stages, stages


def test_the_monitor_imports_no_gate_cli_and_no_model_code() -> None:
    loaded = _modules_after(
        "import monitor.cli, monitor.service, monitor.sources, monitor.slack, monitor.metrics"
    )
    forbidden = ("gate.cli", "gate.generate", "gate.judges", "gate.models", "gate.evaluation")
    leaked = [m for m in loaded if m.startswith(forbidden)]
    assert not leaked, leaked
    assert "torch" not in loaded and "transformers" not in loaded
    assert "gate.publish.names" in loaded  # the metric-name contract, shared with tracking


def test_resolving_a_checkpoint_imports_no_torch(tiny_model_dir: Path, tmp_path: Path) -> None:
    loaded = _modules_after(
        "from pathlib import Path\n"
        "from gate.models import ModelSpec, resolve_model\n"
        f"info = resolve_model(ModelSpec(model={str(tiny_model_dir)!r}, "
        f"cache_dir=Path({str(tmp_path)!r}))).info\n"
        "assert len(info.fingerprint) == 64 and info.parameters is None"
    )
    assert "torch" not in loaded and "transformers" not in loaded
