"""Progress for long work: a bar on a terminal, plain periodic lines in CI logs."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressReporter:
    """Counts finished units of work and shows them without flooding a non-interactive log."""

    def __init__(
        self,
        description: str,
        total: int,
        *,
        stream: TextIO | None = None,
        interval_s: float = 10.0,
        unit: str = "items",
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interval_s = interval_s
        self._started = time.monotonic()
        self._last_line = self._started
        self._postfix = ""
        self._bar: Progress | None = None
        self._task_id: TaskID | None = None
        if self._stream.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[postfix]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                transient=False,
            )

    def __enter__(self) -> ProgressReporter:
        if self._bar is not None:
            self._bar.start()
            self._task_id = self._bar.add_task(self.description, total=self.total, postfix="")
        else:
            self._line(f"{self.description}: 0/{self.total} {self.unit}")
        return self

    def advance(self, count: int = 1, postfix: str = "") -> None:
        """Record `count` more finished units; `postfix` is a short status such as a rate."""
        self.done += count
        self._postfix = postfix
        if self._bar is not None and self._task_id is not None:
            self._bar.update(self._task_id, advance=count, postfix=postfix)
            return
        now = time.monotonic()
        if now - self._last_line >= self._interval_s:
            self._last_line = now
            self._line(self._summary(now))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif exc_type is None:
            self._line(self._summary(time.monotonic()) + " (done)")

    def _summary(self, now: float) -> str:
        extra = f", {self._postfix}" if self._postfix else ""
        return (
            f"{self.description}: {self.done}/{self.total} {self.unit}"
            f" after {now - self._started:.0f}s{extra}"
        )

    def _line(self, text: str) -> None:
        print(text, file=self._stream, flush=True)
