"""The README and the commands' --help must describe the same flags."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gate.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _synopsis(command: str) -> set[str]:
    """Flags of the README's fullest `gate COMMAND ...` line and its backslash continuations."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found = []
    for start, line in enumerate(lines):
        if line.startswith(f"gate {command} "):
            block = [line]
            while block[-1].rstrip().endswith("\\"):
                block.append(lines[start + len(block)])
            found.append(set(FLAG.findall("\n".join(block))))
    return max(found, key=len)


def _options(command: str) -> set[str]:
    group: click.Command = cli
    for name in command.split():
        assert isinstance(group, click.Group)
        group = group.commands[name]
    return {
        opt
        for param in group.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    }


@pytest.mark.parametrize(
    "command",
    [
        "eval",
        "index build",
        "index merge",
        "similarity",
        "select",
        "check",
        "merge",
        "promote",
        "judge agreement",
        "finetune",
        "merge-adapter",
        "repair",
    ],
)
def test_readme_synopsis_lists_every_flag(command: str) -> None:
    assert CliRunner().invoke(cli, [*command.split(), "--help"]).exit_code == 0
    assert _synopsis(command) == _options(command)


def test_readme_quick_start_commands_exist_in_the_makefile() -> None:
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    quick_start = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    commands = re.findall(r"^make (\w+)", quick_start.split("```", 2)[1], flags=re.M)
    assert commands == ["demo", "test"]
    for target in commands:
        assert re.search(rf"^{target}:", makefile, flags=re.M)
