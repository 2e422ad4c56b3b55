from __future__ import annotations

import io

from gate.progress import ProgressReporter


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressReporter("generating", 3, stream=stream, interval_s=0.0, unit="prompts") as bar:
        for _ in range(3):
            bar.advance(postfix="12 tok/s")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "generating: 0/3 prompts"
    assert lines[1].startswith("generating: 1/3 prompts after")
    assert lines[-1].endswith("12 tok/s (done)")
    assert "\r" not in stream.getvalue()


def test_plain_lines_are_rate_limited() -> None:
    stream = io.StringIO()
    with ProgressReporter("work", 100, stream=stream, interval_s=3600) as bar:
        for _ in range(100):
            bar.advance()
    assert len(stream.getvalue().splitlines()) == 2  # the start line and the final line
