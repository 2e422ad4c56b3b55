"""The gate's exceptions, each carrying the exit code the CLI maps it to.

Exit codes (README, "Contracts"): 0 PASS, 1 BLOCK, 2 usage or bad input, 3 infrastructure or
internal error. CI must be able to tell "the model is unsafe" from "the tool is broken", so an
error never shares a code with a verdict.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of `gate`."""

    PASS = 0
    BLOCK = 1
    USAGE = 2
    INFRA = 3


class GateError(Exception):
    """Base of every error the gate reports as one line without a traceback."""

    exit_code: ExitCode = ExitCode.INFRA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(GateError):
    """Bad flags or bad input data: a missing file, a malformed row, an unknown name."""

    exit_code = ExitCode.USAGE


class InfraError(GateError):
    """The environment failed: a checkpoint that will not load, out of memory, no network."""

    exit_code = ExitCode.INFRA


class StageError(InfraError):
    """A named stage of a run failed; carries the stage name for the ERROR verdict.

    The exit code is the cause's when it is a GateError (2 for bad input found mid-run), else 3.
    """

    def __init__(self, stage: str, cause: BaseException) -> None:
        unexpected = not isinstance(cause, GateError)
        super().__init__(
            f"{stage} failed: {type(cause).__name__}: {cause}",
            hint="run with --debug for the traceback" if unexpected else None,
        )
        self.stage = stage
        self.cause = cause
        if isinstance(cause, GateError):
            self.exit_code = cause.exit_code

    def as_gate_error(self) -> GateError:
        """The error to report: a GateError cause keeps its own type, prefixed with the stage."""
        cause = self.cause
        if isinstance(cause, GateError):
            return type(cause)(f"{self.stage}: {cause.message}", hint=cause.hint)
        return self


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Run a named stage; anything it raises is re-raised as StageError(name)."""
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(name, exc) from exc
