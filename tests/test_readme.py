"""The README and `gate eval --help` must describe the same flags."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from gate.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _readme_eval_synopsis() -> set[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("## `gate eval`", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return set(FLAG.findall(block))


def test_readme_synopsis_lists_every_eval_flag() -> None:
    help_text = CliRunner().invoke(cli, ["eval", "--help"], terminal_width=200).output
    in_help = set(FLAG.findall(help_text)) - {"--help"}
    assert _readme_eval_synopsis() == in_help


def test_readme_quick_start_commands_exist_in_the_makefile() -> None:
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    quick_start = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    commands = re.findall(r"^make (\w+)", quick_start.split("```", 2)[1], flags=re.M)
    assert commands == ["demo", "test"]
    for target in commands:
        assert re.search(rf"^{target}:", makefile, flags=re.M)
