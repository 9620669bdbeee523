"""A small name -> entry mapping with duplicate-name errors (private helper)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A read-mostly mapping of names to entries that refuses duplicate names.

    Args:
        kind: What the entries are, used in error messages (e.g. ``predictor``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Registers ``entry`` under ``name`` and returns it.

        Raises:
            ValueError: if ``name`` is empty or already registered.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} `{name}` is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(entry: T) -> T:
            return self.add(name, entry)

        return deco

    def get_or_raise(self, name: str) -> T:
        """Returns the entry named ``name``.

        Raises:
            ValueError: naming the known entries, e.g.
                ``"`predictor` must be one of [ridge, svr], got 'x'"``.
        """
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ValueError(f"`{self.kind}` must be one of [{known}], got {name!r}")
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
