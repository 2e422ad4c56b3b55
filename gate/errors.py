"""The gate's exceptions, each carrying the exit code the CLI maps it to.

Exit codes (DESIGN.md, "Contracts"): 0 PASS, 1 BLOCK, 2 usage or bad input, 3 infrastructure or
internal error. CI must be able to tell "the model is unsafe" from "the tool is broken", so an
error never shares a code with a verdict.
"""

from __future__ import annotations

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
