from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field

from gate.errors import InputError
from gate.versioned import Versioned


class Sample(Versioned):
    schema_name: str = Field(default="test/sample", alias="schema")
    schema_version: int = 2
    value: int


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(Sample(value=3).to_json())
    assert json.loads(path.read_text())["schema"] == "test/sample"
    assert Sample.read(path).value == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"schema": "test/sample", "schema_version": 1, "value": 3}',
            "schema test/sample v1 is not test/sample v2",
        ),
        ('{"schema": "other", "schema_version": 2, "value": 3}', "schema other v2 is not"),
        ('{"schema": "test/sample", "schema_version": 2}', "is not a valid Sample: value"),
        (
            '{"schema": "test/sample", "schema_version": 2, "value": 3, "x": 1}',
            "is not a valid Sample: x",
        ),
        ("not json", "is not a valid Sample"),
    ],
)
def test_bad_records_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        Sample.read(path)
    assert "\n" not in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        Sample.read(tmp_path / "missing.json")
