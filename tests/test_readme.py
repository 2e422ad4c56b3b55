"""The README and the commands' --help must describe the same flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gate.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _synopsis(command: str) -> set[str]:
    """Flags of the README's `gate COMMAND ...` line and its backslash continuations."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"gate {command} "))
    block = [lines[start]]
    while block[-1].rstrip().endswith("\\"):
        block.append(lines[start + len(block)])
    return set(FLAG.findall("\n".join(block)))


@pytest.mark.parametrize("command", ["eval", "index build", "similarity", "select"])
def test_readme_synopsis_lists_every_flag(command: str) -> None:
    result = CliRunner().invoke(cli, [*command.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert _synopsis(command) == set(FLAG.findall(result.output)) - {"--help"}


def test_readme_quick_start_commands_exist_in_the_makefile() -> None:
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    quick_start = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    commands = re.findall(r"^make (\w+)", quick_start.split("```", 2)[1], flags=re.M)
    assert commands == ["demo", "test"]
    for target in commands:
        assert re.search(rf"^{target}:", makefile, flags=re.M)
