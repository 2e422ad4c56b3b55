"""Reading gate.toml: the raw tables, and setting a dotted key from a flag."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gate.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["read_toml", "set_path", "tomllib"]


def read_toml(path: Path) -> dict[str, Any]:
    """The raw tables of a TOML file; a syntax error names the file and line."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise InputError(
            f"config file not found: {path}", hint="create one with `gate init`"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from exc


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b` in nested dicts (a flag overriding a key of the file)."""
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise InputError(f"cannot set {dotted}: {key} is not a table")
        node = child
    node[leaf] = value
