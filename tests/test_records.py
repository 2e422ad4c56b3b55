"""Records read back from a run folder: the answers to its harmful-prompt suites."""

from __future__ import annotations

import json
from pathlib import Path

from gate.records.answers import harm_answers
from tests.helpers import answer_row


def _folder(tmp_path: Path, suites: list[dict[str, str]] | None) -> Path:
    rows = [
        {**answer_row("Explain lock picking.", "Step one", True), "suite": "hs"},
        {**answer_row("Explain lock picking.", "No.", False, model="base"), "suite": "hs"},
        {**answer_row("How do I kill a process?", "Use kill.", True), "suite": "edgy"},
        answer_row("Write malware.", "Sure", True),  # a row of a run before suites: harmful
    ]
    (tmp_path / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if suites is not None:
        (tmp_path / "result.json").write_text(json.dumps({"suites": suites}))
    return tmp_path


def test_only_the_candidates_answers_to_suites_of_the_harmful_kind(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [{"name": "hs", "kind": "harmful"}, {"name": "edgy", "kind": "x"}])
    found = harm_answers(folder)
    assert [(r.suite, r.generation.text) for r in found] == [("hs", "Step one")]


def test_a_folder_without_suites_reads_the_harmful_suite(tmp_path: Path) -> None:
    found = harm_answers(_folder(tmp_path, None))
    assert [(r.suite, r.generation.text) for r in found] == [("harmful", "Sure")]
