"""Finished generations on disk, so a killed run resumes without redoing or duplicating work.

A generation is stored under a key of everything that determines its text: the model fingerprint,
the prompt, the chat template, the sampling settings and seed, the backend, the token limit and
the attack (name and version) that wrapped the prompt.
Each one is committed in its own SQLite transaction the moment it is yielded, so a run killed at
any point (SIGKILL included) keeps every generation it finished, and the key's primary-key
constraint means a re-run can never store one twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from gate.files import open_store, sha256_text
from gate.generate import Generation, Generator, GenRequest


def generation_key(
    request: GenRequest, *, model_fingerprint: str, template_sha256: str, backend: str
) -> str:
    """The cache key of one request."""
    sampling = request.sampling.effective()
    fields: dict[str, object] = {
        "model": model_fingerprint,
        "prompt": request.prompt,
        "template": template_sha256,
        "backend": backend,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "min_p": sampling.min_p,
        "seed": sampling.seed,
        "max_new_tokens": sampling.max_new_tokens,
    }
    if request.attack is not None:  # absent, not null, so the keys of plain prompts never change
        fields["attack"] = request.attack
    return sha256_text(json.dumps(fields, sort_keys=True))


class GenerationStore:
    """SQLite table of finished generations."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_store(
            path,
            "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
            " tokens INTEGER NOT NULL, finish_reason TEXT NOT NULL, seconds REAL NOT NULL,"
            " truncated INTEGER NOT NULL DEFAULT 0)",
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(generations)")}
        if "truncated" not in columns:  # a store written before prompts could be truncated
            self._db.execute(
                "ALTER TABLE generations ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0"
            )
        self._db.commit()

    def get(self, keys: Sequence[str]) -> dict[str, tuple[str, int, str, float, bool]]:
        """Stored (text, tokens, finish_reason, seconds, truncated) for the keys that have one."""
        found = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, text, tokens, reason, seconds, truncated in self._db.execute(
                "SELECT key, text, tokens, finish_reason, seconds, truncated FROM generations"
                f" WHERE key IN ({marks})",
                chunk,
            ):
                found[key] = (text, tokens, reason, seconds, bool(truncated))
        return found

    def put(self, key: str, generation: Generation) -> None:
        """Store one generation in its own transaction."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO generations"
                " (key, text, tokens, finish_reason, seconds, truncated) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    generation.text,
                    generation.tokens,
                    generation.finish_reason,
                    generation.seconds,
                    int(generation.truncated),
                ),
            )

    def count(self) -> int:
        """How many generations are stored."""
        return int(self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])


class CachedGenerator:
    """Answers what the store already holds and sends only the rest to the real generator."""

    def __init__(self, inner: Generator, store: GenerationStore) -> None:
        self.inner = inner
        self.name = inner.name
        self.info = inner.info
        self.cache_identity = inner.cache_identity
        self.store = store
        self.hits = 0
        self.misses = 0

    def key(self, request: GenRequest) -> str:
        return generation_key(
            request,
            model_fingerprint=self.info.fingerprint,
            template_sha256=self.cache_identity,
            backend=self.inner.name,
        )

    def generate(self, requests: Sequence[GenRequest]) -> Iterator[Generation]:
        """Yield stored answers first, then generate and store the rest, one per request."""
        stored = self.store.get(sorted({self.key(r) for r in requests}))
        waiting: dict[str, list[GenRequest]] = {}
        for request in requests:
            key = self.key(request)
            if key in stored:
                text, tokens, reason, seconds, truncated = stored[key]
                self.hits += 1
                yield Generation(
                    request.prompt_id,
                    request.sampling,
                    text,
                    tokens,
                    reason,
                    seconds,
                    cached=True,
                    truncated=truncated,
                )
            else:
                waiting.setdefault(key, []).append(request)
        key_of = {(reqs[0].prompt_id, reqs[0].sampling): key for key, reqs in waiting.items()}
        for generation in self.inner.generate([reqs[0] for reqs in waiting.values()]):
            key = key_of[(generation.prompt_id, generation.sampling)]
            self.store.put(key, generation)
            self.misses += 1
            for request in waiting[key]:  # a prompt listed twice gets the same answer twice
                yield replace(generation, prompt_id=request.prompt_id, sampling=request.sampling)
