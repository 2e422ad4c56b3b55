"""The files a run leaves: generations.jsonl, result.json, the reports, and verdict.json last.

Fail closed: files are first written to a staging folder beside the outputs, and moved into
place only once everything after them (MLflow, the registry) has succeeded, with verdict.json
moved last. After any failure, `write_failure` rewrites every file to say ERROR, and removes any
it cannot rewrite (a full disk), so nothing left behind claims PASS.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gate.files import atomic_open, write_jsonl
from gate.publish.reports import filename, render, render_failure, written_formats
from gate.records import GENERATIONS_FILE, RESULT_FILE, VERDICT_FILE
from gate.records.answers import JudgedGeneration, generation_rows
from gate.records.result import GateResult
from gate.records.verdict import Verdict


def write_result_files(
    folder: Path,
    result: GateResult,
    roles: Sequence[tuple[str, Sequence[JudgedGeneration]]],
) -> None:
    """generations.jsonl, every report of a decided result, then result.json."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / GENERATIONS_FILE, generation_rows(roles))
    # The worst answers a report shows are the headline suite's: its judge's flags mean harm.
    candidate = [r for r in (roles[0][1] if roles else []) if r.suite == result.primary.name]
    if result.verdict is not None:
        for name in written_formats():
            text = render(name, result, candidate)
            if text:  # a format with nothing to draw for this run (no over-refusal suite)
                with atomic_open(folder / filename(name)) as handle:
                    handle.write(text)
    with atomic_open(folder / RESULT_FILE) as handle:
        handle.write(result.to_json())


def write_verdict(out_dir: Path, verdict: Verdict) -> None:
    """verdict.json: the decision alone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / VERDICT_FILE) as handle:
        handle.write(verdict.model_dump_json(indent=2) + "\n")


@contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """A staging folder beside `out_dir`, removed afterwards whatever happened."""
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit(staging: Path, out_dir: Path, verdict: Verdict | None) -> None:
    """Move the staged files into `out_dir`; verdict.json is written last."""
    for path in sorted(staging.iterdir()):
        os.replace(path, out_dir / path.name)
    if verdict is not None:
        write_verdict(out_dir, verdict)


def clear_decision(out_dir: Path) -> None:
    """Remove a verdict, JUnit file and reports an earlier run left in `out_dir`."""
    for name in (VERDICT_FILE, *(filename(fmt) for fmt in written_formats())):
        (out_dir / name).unlink(missing_ok=True)


def write_failure(out_dir: Path, message: str, result: GateResult | None = None) -> None:
    """After a failure: every artefact in `out_dir` says ERROR, or is gone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    verdict = Verdict.failed(message)
    failed = result.failed(message) if result is not None else None
    texts = {filename(name): render_failure(name, failed, verdict) for name in written_formats()}
    texts[RESULT_FILE] = failed.to_json() if failed else None
    texts[VERDICT_FILE] = verdict.model_dump_json(indent=2) + "\n"
    for name, text in texts.items():
        _rewrite_or_remove(out_dir / name, text)


def _rewrite_or_remove(path: Path, text: str | None) -> None:
    """Write `text` to `path`; with no text, or when writing fails, remove the file."""
    if text is not None:
        try:
            with atomic_open(path) as handle:
                handle.write(text)
            return
        except OSError:
            pass
    path.unlink(missing_ok=True)
