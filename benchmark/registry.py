"""One registry type for methods, datasets, suites and models.

Each registry is one line (``method_registry = Registry("method", ...)``) and its decorator is
``register_method = method_registry.register``. Built-in entries are discovered by importing the
modules of a package; third-party packages add entries through an entry-point group. A lookup miss
lists what exists and the closest match.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from benchmark.errors import BenchmarkError, UnknownNameError

T = TypeVar("T")


class PluginWarning(UserWarning):
    """A third-party plugin (an entry point) could not be loaded; the message names it and its error."""


def bibtex_key(bibtex: str | None) -> str | None:
    """The citation key of a BibTeX entry (``@article{key, ...}`` -> ``key``), or None.

    Methods and datasets carry their papers as BibTeX; the CLI, the method cards and the report's
    reference list all name an entry by this key."""
    match = re.search(r"@\w+\s*\{\s*([^,\s]+)\s*,", bibtex or "")
    return match.group(1) if match else None


def public_modules(package_name: str) -> list[str]:
    """Dotted names of the public modules of a package and of its public subpackages, recursively,
    sorted. Names starting with ``_`` are private helpers (timm style): they register nothing and
    are imported by the public modules that use them, so discovery skips them and what is under them."""
    package = importlib.import_module(package_name)
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        name = f"{package_name}.{info.name}"
        found.append(name)
        if info.ispkg:
            found.extend(public_modules(name))
    return found


class Registry(Generic[T]):
    """A name -> entry mapping filled by decorators, package discovery and entry points.

    Args:
        kind: what the entries are ("method", "dataset", ...), used in messages.
        make_entry: turns ``(obj, name=..., **metadata)`` given to :meth:`register` into the stored
            entry; ``None`` stores the decorated object itself.
        package: dotted name of the package whose modules register the built-in entries.
        entry_point_group: the ``importlib.metadata`` group third-party plugins use.
        composer: a lazy ``"module:function"`` reference to ``function(name) -> entry | None`` that
            builds an entry on the fly for a name the registry does not hold (the method registry
            composes ``smote+focal-loss`` from its parts); it returns None for a name it does not
            compose and raises :class:`BenchmarkError` for one it refuses. Composed entries are
            cached, found by :meth:`get`, ``in`` and :meth:`resolve`, and never listed by :meth:`names`.
    """

    def __init__(
        self,
        kind: str,
        *,
        make_entry: Callable[..., T] | None = None,
        package: str | None = None,
        entry_point_group: str | None = None,
        composer: str | None = None,
    ):
        self.kind = kind
        self._make_entry = make_entry
        self._package = package
        self._group = entry_point_group
        self._entries: dict[str, T] = {}
        self._discovered = False
        self._discovering = False
        self.plugin_errors: dict[str, str] = {}  # entry point name -> why it was left out
        self._composer = composer
        self._composed: dict[str, T] = {}  # asked name -> entry built by the composer

    # -- filling -----------------------------------------------------------------------------
    def register(self, name: str | None = None, **metadata: Any) -> Callable[[Any], Any]:
        """Decorator: ``@register_method("focal-loss", family="loss", ...)``. Returns the object."""

        def decorator(obj: Any) -> Any:
            entry_name = name or getattr(obj, "__name__", None)
            if not entry_name:
                raise BenchmarkError(f"a {self.kind} needs a name", "pass name= to the register decorator")
            entry = self._make_entry(obj, name=entry_name, **metadata) if self._make_entry else obj
            self.add(entry_name, entry)
            return obj

        return decorator

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; a second entry with the same name is an error."""
        if name in self._entries and self._entries[name] is not entry:
            raise BenchmarkError(
                f"{self.kind} '{name}' is registered twice",
                "give the new entry another name, or remove the old plugin",
            )
        self._entries[name] = entry
        return entry

    # -- discovery ---------------------------------------------------------------------------
    def _discover(self) -> None:
        if self._discovered or self._discovering:
            return
        self._discovering = True
        try:
            if self._package:
                for module in public_modules(self._package):
                    importlib.import_module(module)
            if self._group:
                for ep in entry_points(group=self._group):
                    self._load_plugin(ep)
            self._discovered = True
        finally:
            self._discovering = False

    def _load_plugin(self, ep: Any) -> None:
        """Load one entry point. A plugin that fails (to import, or to register: a duplicate name) must
        not hide the built-ins or the other plugins, but must be visible: it is reported as a
        :class:`PluginWarning` naming the entry point and its error, and kept in ``plugin_errors``."""
        try:
            loaded = ep.load()
            # A plugin is a module that registered its entries on import, an entry, or a list of entries.
            if isinstance(loaded, type(importlib)):
                return
            items = loaded if isinstance(loaded, list | tuple) else [loaded]
            for item in items:
                item_name = getattr(item, "name", None) or ep.name
                if self._entries.get(item_name) is not item:
                    self.add(item_name, item)
        except Exception as exc:  # noqa: BLE001 - any error of third-party code is reported, not raised
            message = (f"plugin entry point '{ep.name}' ({ep.value}) of group {self._group} failed to load: "
                       f"{type(exc).__name__}: {exc}; its {self.kind}s are left out, the others still work "
                       "-- fix or uninstall that package")
            self.plugin_errors[ep.name] = message
            warnings.warn(message, PluginWarning, stacklevel=2)

    # -- lookup ------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``: names are lower-case and users type the papers' spelling
        (``SMOTE``, ``Keel-Yeast3``), so a name that matches one entry in any case is that entry's name;
        any other name is returned as given (a combination's parts are matched by the composer)."""
        self._discover()
        if name in self._entries or not isinstance(name, str):
            return name
        folded = [n for n in self._entries if n.casefold() == name.casefold()]
        return folded[0] if len(folded) == 1 else name

    def get(self, name: str) -> T:
        self._discover()
        name = self.canonical(name)
        if name in self._entries:
            return self._entries[name]
        composed = self._compose(name)
        if composed is None:
            raise UnknownNameError(self._miss_message(name))
        return composed

    def _compose(self, name: str) -> T | None:
        """The composer's entry for ``name`` (cached), or None when there is no composer or it does
        not compose that name; its refusal (a :class:`BenchmarkError`) propagates."""
        if name in self._composed:
            return self._composed[name]
        if self._composer is None or not isinstance(name, str):
            return None
        module, _, function = self._composer.partition(":")
        entry = getattr(importlib.import_module(module), function)(name)
        if entry is not None:
            self._composed[name] = entry
        return entry

    def _miss_message(self, name: str) -> str:
        names = sorted(self._entries)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
        return (
            f"unknown {self.kind} '{name}': {hint}"
            f"known {self.kind}s: {shown}; `python -m benchmark list {self.kind}s` shows them all"
        )

    def __contains__(self, name: object) -> bool:
        self._discover()
        if isinstance(name, str):
            name = self.canonical(name)
        if name in self._entries:
            return True
        try:
            return isinstance(name, str) and self._compose(name) is not None
        except BenchmarkError:  # an unknown part or a refused combination: not an entry
            return False

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, filtered by a shell-style ``pattern`` (``"smote*"``) when given, in any case
        (``"SMOTE*"`` finds the same: names are lower-case, users type the papers' spelling)."""
        self._discover()
        names = sorted(self._entries)
        return [n for n in names if pattern is None or fnmatch.fnmatchcase(n.lower(), pattern.lower())]

    def items(self, pattern: str | None = None) -> Iterator[tuple[str, T]]:
        for name in self.names(pattern):
            yield name, self._entries[name]

    def resolve(self, names: Iterable[str]) -> list[T]:
        """Look up several names; every unknown one is reported, not just the first."""
        found, missing = [], []
        for n in names:
            try:
                found.append(self.get(n))
            except UnknownNameError as exc:  # a refused composition (another BenchmarkError) stops at once
                missing.append(str(exc))
        if missing:
            raise UnknownNameError("; ".join(missing))
        return found

    def __len__(self) -> int:
        self._discover()
        return len(self._entries)
