"""One registry type for every extension point, and the built-in entries of each.

An entry is a name, a factory and the pydantic model of the factory's options, registered once:
built-ins below as `"module:attribute"` strings (imported on first use, so `gate --help` stays
instant), another installed distribution through an entry point in the registry's group
(`safety_gate.judges`, ...), a test or an embedding program with `register`. A config names an
implementation (`judge = "keyword"`) and its options are validated by that implementation's own
model before anything heavy loads. `gate plugins` lists every entry and where it came from.

An entry point names either a factory (its options model, if any, in the factory's
`options_model` attribute) or a `Plugin` holding the factory, the options model and metadata.
A plugin that fails to load is reported as one line naming it; it never breaks another command.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from gate.errors import InputError

T = TypeVar("T")


class NoOptions(BaseModel):
    """The options of an implementation that takes none: any key given is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def did_you_mean(name: str, known: list[str]) -> str:
    """A hint naming the closest known name, or listing them all when none is close."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"


def load_target(target: str) -> Any:
    """The object a `"module:attribute"` string names."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class Plugin:
    """What an entry point may name instead of a bare factory: factory, options and metadata."""

    factory: Callable[..., Any]
    options: type[BaseModel] = NoOptions
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Entry:
    """One registered implementation. `factory` and `options` may still be import strings."""

    name: str
    factory: Callable[..., Any] | str
    options: type[BaseModel] | str | None = None
    origin: str = "built-in"
    """`built-in`, `plugin DIST VERSION` for an entry point, or `registered` in-process."""
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why a plugin could not be loaded; such an entry is listed but cannot be used."""


class Registry(Generic[T]):
    """Names -> entries of one kind; built-ins are strings imported on first use."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        """The entry-point group other distributions register into."""
        self._entries: dict[str, Entry] = {}
        self._added: dict[str, Entry] = {}
        self._discovered = False

    def add(
        self,
        name: str,
        factory: Callable[..., T] | str,
        *,
        options: type[BaseModel] | str | None = None,
        **meta: Any,
    ) -> None:
        """A built-in entry: the factory and its options model, in one call."""
        self._entries[name] = Entry(name, factory, options, "built-in", dict(meta))

    def register(
        self,
        name: str,
        factory: Callable[..., T],
        options: type[BaseModel] = NoOptions,
        **meta: Any,
    ) -> None:
        """Add an implementation in-process (tests, embedding programs); it shadows a name."""
        self._added[name] = Entry(name, factory, options, "registered", dict(meta))

    def unregister(self, name: str) -> None:
        """Remove an implementation added with `register`."""
        self._added.pop(name, None)

    @contextmanager
    def registered(
        self,
        name: str,
        factory: Callable[..., T],
        options: type[BaseModel] = NoOptions,
        **meta: Any,
    ) -> Iterator[None]:
        """`register` for the duration of a block."""
        previous = self._added.get(name)
        self.register(name, factory, options, **meta)
        try:
            yield
        finally:
            if previous is None:
                self.unregister(name)
            else:
                self._added[name] = previous

    def _discover(self) -> None:
        """Read the entry points of the group once; nothing is imported until used."""
        if self._discovered:
            return
        self._discovered = True
        for point in entry_points(group=self.group):
            dist = getattr(point, "dist", None)
            origin = f"plugin {dist.name} {dist.version}" if dist is not None else "plugin"
            if point.name not in self._entries:
                self._entries[point.name] = Entry(point.name, point.value, None, origin)

    def rediscover(self) -> None:
        """Forget the plugins found so far; the next lookup reads the entry points again."""
        self._entries = {n: e for n, e in self._entries.items() if e.origin == "built-in"}
        self._discovered = False

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name; plugins are loaded so a broken one shows its error."""
        self._discover()
        found = {**self._entries, **self._added}
        for entry in found.values():
            if entry.origin.startswith("plugin"):
                self._resolve(entry, raising=False)
        return [found[name] for name in sorted(found)]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._discover()
        return sorted({*self._entries, *self._added})

    def _resolve(self, entry: Entry, *, raising: bool = True) -> Entry:
        """Import the entry's factory and options model, once."""
        if isinstance(entry.factory, str) and entry.error is None:
            try:
                loaded = load_target(entry.factory)
                if isinstance(loaded, Plugin):
                    entry.factory, entry.options = loaded.factory, loaded.options
                    entry.meta = {**loaded.meta, **entry.meta}
                else:
                    entry.factory = loaded
                    if entry.options is None:
                        entry.options = getattr(loaded, "options_model", None)
                if isinstance(entry.options, str):
                    entry.options = load_target(entry.options)
            except Exception as exc:
                if entry.origin == "built-in":
                    raise
                entry.error = f"{type(exc).__name__}: {exc}"
        if entry.error is not None and raising:
            raise InputError(
                f"{self.kind} {entry.name!r} ({entry.origin}) could not be loaded: {entry.error}",
                hint="reinstall or remove that plugin; `gate plugins` lists what is installed",
            )
        return entry

    def entry(self, name: str) -> Entry:
        """The entry for `name`, loaded; an unknown name suggests the closest ones."""
        self._discover()
        found = self._added.get(name) or self._entries.get(name)
        if found is None:
            raise InputError(f"unknown {self.kind} {name!r}", hint=did_you_mean(name, self.names()))
        return self._resolve(found)

    def factory(self, name: str) -> Callable[..., T]:
        """The factory for `name`, or an InputError that suggests the closest names."""
        factory = self.entry(name).factory
        assert callable(factory)
        return factory

    def options_model(self, name: str) -> type[BaseModel]:
        """The pydantic model that validates the options of `name`."""
        options = self.entry(name).options
        return options if isinstance(options, type) else NoOptions

    def meta(self, name: str) -> dict[str, Any]:
        """What an entry declares besides its factory (a judge's family, a format's file)."""
        return self.entry(name).meta

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build the implementation registered as `name`."""
        result: T = self.factory(name)(*args, **kwargs)
        return result
