"""Named registries: spaces and tasks register themselves; the core only reads.

A :class:`Registry` refuses duplicate names and reports unknown names with the list of what is
known, so that a typo in a config gives a useful one-line error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from nas.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → entry mapping with duplicate-name errors.

    Args:
        kind: What the entries are, used in messages (e.g. ``space``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._prefixes: dict[str, Callable[[str], T]] = {}

    def add(self, name: str, entry: T) -> T:
        """Registers ``entry`` under ``name``.

        Raises:
            ValueError: if the name is already registered.
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} `{name}` is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(entry: T) -> T:
            return self.add(name, entry)

        return deco

    def add_prefix(self, prefix: str, factory: Callable[[str], T]) -> None:
        """Makes every name ``<prefix><rest>`` resolvable: on first use ``factory(name)`` builds the
        entry, which is then registered under that name (e.g. ``table:<csv>`` spaces).

        Raises:
            ValueError: if the prefix is already registered.
        """
        if prefix in self._prefixes:
            raise ValueError(f"{self.kind} prefix `{prefix}` is already registered")
        self._prefixes[prefix] = factory

    def _resolve(self, name: str) -> None:
        if name in self._entries or not isinstance(name, str):
            return
        for prefix, factory in self._prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                self._entries[name] = factory(name)
                return

    def get(self, name: str, param: str | None = None) -> T:
        """Returns the entry named ``name`` (building it when a registered prefix matches).

        Raises:
            ConfigError: naming ``param`` (default: the kind) and the known names.
        """
        self._resolve(name)
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"`{param or self.kind}` must be one of [{known}], got {name!r}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or (
            isinstance(name, str) and any(name.startswith(p) and len(name) > len(p) for p in self._prefixes)
        )

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)
