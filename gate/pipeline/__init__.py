"""The pipeline: a check from config to published verdict, and the other commands that decide.

    config -> evaluate suites (gate.evaluation) -> decide (gate.policy) -> publish (gate.publish)
           -> when [repair] is enabled and the verdict is BLOCK: repair (gate.repair)
              -> evaluate and decide again -> publish with lineage

`check.py` runs `gate check`; `commands.py` runs `gate eval`, `gate merge` and `gate judge`. Every
one of them fails closed through `failing_closed` here, the one place that turns an exception into
artefacts saying ERROR. The CLI parses flags, builds the Config, calls one of these, and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gate.errors import StageError

T = TypeVar("T")


def failing_closed(
    out_dir: Path, run: Callable[[], T], what: str = "", *, create: bool = True
) -> T:
    """`run()`, and if it fails, every artefact in `out_dir` says ERROR before the error goes on.

    Without `create`, a folder that does not exist yet is left absent: nothing there can claim
    anything (`gate eval`, which never decides)."""
    from gate.publish.artifacts import write_failure

    def fail(message: str) -> None:
        if create or out_dir.is_dir():
            write_failure(out_dir, f"{what}{message}")

    try:
        return run()
    except StageError as exc:
        fail(str(exc))
        raise exc.as_gate_error() from exc.cause
    except BaseException as exc:
        fail(f"{type(exc).__name__}: {exc}")
        raise
