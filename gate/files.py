"""Hashing and atomic writes: nothing the gate writes is ever left half-written."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gate.errors import InfraError

_CHUNK = 1 << 20
DEFAULT_CACHE_DIR = "~/.cache/safety-gate"
"""Converted weights, file hashes, embeddings and cached answers, unless told otherwise."""


def default_cache_dir() -> Path:
    """DEFAULT_CACHE_DIR with `~` expanded."""
    return Path(DEFAULT_CACHE_DIR).expanduser()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a report is meant to be read by the team and
        # by CI artifact viewers, so it gets the mode any other tool would give it.
        os.chmod(tmp_name, 0o666 & ~current_umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_shared_dir(path: Path) -> None:
    """Give a folder made by mkdtemp (0700) the mode a plain mkdir would have."""
    os.chmod(path, 0o777 & ~current_umask())


@contextmanager
def new_folder(path: Path, *, exist_ok: bool = False) -> Iterator[Path]:
    """A hidden folder beside `path` to fill; renamed to `path` only if the block succeeds, and
    removed whatever happened. `path` must not exist (with `exist_ok`, one that appears is kept)."""
    import shutil

    from gate.errors import InputError

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    make_shared_dir(staging)  # it becomes the output folder
    try:
        yield staging
        if path.exists() and not exist_ok:
            raise InputError(f"{path} appeared while this run worked; it was not replaced")
        try:
            os.replace(staging, path)
        except OSError:
            # exist_ok is for folders keyed by their content: another process that finished
            # first wrote the same thing, so its copy is kept and this one dropped.
            if not (exist_ok and path.exists()):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically, pretty-printed for humans and diff tools."""
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """Write JSON lines atomically."""
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False))
            handle.write("\n")


def open_store(path: Path, *statements: str) -> sqlite3.Connection:
    """Open (or create) a SQLite cache in WAL mode and run its schema statements.

    A file that is not a readable database is one error naming it and the way out: these stores
    are caches, safe to delete.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        for statement in statements:
            db.execute(statement)
        db.commit()
    except sqlite3.DatabaseError as exc:
        raise InfraError(
            f"the cache {path} is not a readable SQLite database ({exc})",
            hint=f"delete {path.name} (it is only a cache), or point GATE_CACHE_DIR elsewhere",
        ) from None
    return db


def redact_url(url: str) -> str:
    """`url` without a password or token in it: user info and the query string are dropped."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.netloc:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
