"""Name -> implementation registries, imported lazily so `gate --help` stays instant."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from gate.errors import InputError

T = TypeVar("T")


def did_you_mean(name: str, known: list[str]) -> str:
    """A hint naming the closest known name, or listing them all when none is close."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"


class Registry(Generic[T]):
    """Maps names to `"module:attribute"` factories; the module is imported on first use."""

    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._extra: dict[str, Callable[..., T]] = {}

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted({*self._entries, *self._extra})

    def register(self, name: str, factory: Callable[..., T]) -> None:
        """Add an in-process factory (tests and plugins use this)."""
        self._extra[name] = factory

    def factory(self, name: str) -> Callable[..., T]:
        """The factory for `name`, or an InputError that suggests the closest names."""
        if name in self._extra:
            return self._extra[name]
        target = self._entries.get(name)
        if target is None:
            raise InputError(f"unknown {self.kind} {name!r}", hint=did_you_mean(name, self.names()))
        module_name, _, attribute = target.partition(":")
        factory: Callable[..., T] = getattr(importlib.import_module(module_name), attribute)
        return factory

    def create(self, name: str, **kwargs: object) -> T:
        """Build the implementation registered as `name`."""
        return self.factory(name)(**kwargs)
