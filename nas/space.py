"""Search spaces and architectures: ``Choice``, ``SearchSpace`` and ``Arch``.

A space is a flat, ordered set of labelled dimensions. A dimension may carry a condition (for
example a block's kernel only counts when the stage's depth reaches that block). The canonical
form of an architecture drops inactive dimensions; its hash is the ``arch_id`` used to
deduplicate and cache everywhere (study, run store, latency cache).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from nas.errors import ConfigError

if TYPE_CHECKING:
    import optuna

__all__ = ["Value", "Choice", "Condition", "Arch", "SearchSpace"]

Value = Union[int, float, str, bool]


@dataclass(frozen=True)
class Condition:
    """The dimension is active when ``arch[label] >= at_least`` (``at_least`` numeric)."""

    label: str
    at_least: int

    def holds(self, values: Mapping[str, Value]) -> bool:
        """Whether the condition holds for the given (possibly partial) values."""
        v = values.get(self.label)
        return v is not None and v >= self.at_least  # type: ignore[operator]


@dataclass(frozen=True)
class Choice:
    """One labelled dimension of a space.

    Args:
        label: Unique name chosen by the space's author, e.g. ``s1.width``.
        options: The allowed values, in a fixed order (the order defines the one-hot encoding).
        when: Optional condition under which the dimension counts.
    """

    label: str
    options: tuple[Value, ...]
    when: Condition | None = None

    def __post_init__(self) -> None:
        if not self.options:
            raise ConfigError(f"choice `{self.label}` must have at least one option, got none")
        if len(set(self.options)) != len(self.options):
            raise ConfigError(f"choice `{self.label}` must have distinct options, got {self.options!r}")


@dataclass(frozen=True)
class Arch:
    """A frozen, JSON-serialisable architecture: a mapping from labels to chosen values.

    Build it through :meth:`SearchSpace.make` so that it is canonical (inactive choices dropped,
    labels in the space's order).
    """

    items: tuple[tuple[str, Value], ...]

    def __getitem__(self, label: str) -> Value:
        for k, v in self.items:
            if k == label:
                return v
        raise KeyError(label)

    def get(self, label: str, default: Value | None = None) -> Value | None:
        """Returns the value of ``label``, or ``default`` when absent (inactive)."""
        for k, v in self.items:
            if k == label:
                return v
        return default

    def __contains__(self, label: object) -> bool:
        return any(k == label for k, _ in self.items)

    def to_dict(self) -> dict[str, Value]:
        """The architecture as a plain dict (JSON-ready)."""
        return dict(self.items)

    def to_json(self) -> str:
        """Canonical JSON text: the form that ``arch_id`` hashes."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=False)

    @cached_property
    def arch_id(self) -> str:
        """Stable 12-hex-digit id of the canonical form (computed once per instance)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:12]

    def short(self) -> str:
        """A compact human-readable form, e.g. ``s1.depth=2 s1.width=32``."""
        return " ".join(f"{k}={v}" for k, v in self.items)


@dataclass
class SearchSpace:
    """An ordered set of :class:`Choice` dimensions with conditions.

    Args:
        name: Registered name of the space (e.g. ``cnn1d``).
        choices: The dimensions, in order. A condition may refer only to an earlier label.
    """

    name: str
    choices: Sequence[Choice]
    _by_label: dict[str, Choice] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.choices = tuple(self.choices)
        self._by_label = {}
        for c in self.choices:
            if c.label in self._by_label:
                raise ConfigError(f"space `{self.name}` must have unique labels, got `{c.label}` twice")
            if c.when is not None and c.when.label not in self._by_label:
                raise ConfigError(
                    f"condition of `{c.label}` must refer to an earlier label, got `{c.when.label}`"
                )
            self._by_label[c.label] = c

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels in order."""
        return tuple(c.label for c in self.choices)

    def choice(self, label: str) -> Choice:
        """Returns the dimension named ``label``."""
        return self._by_label[label]

    def make(self, values: Mapping[str, Value]) -> Arch:
        """Builds the canonical :class:`Arch` from values (extra inactive values are dropped).

        Raises:
            ConfigError: if the values are not a valid architecture of this space.
        """
        problems = self.validate(values)
        if problems:
            raise ConfigError(f"architecture for space `{self.name}` is invalid: " + "; ".join(problems))
        active = [(c.label, values[c.label]) for c in self.choices if self._active(c, values)]
        return Arch(tuple(active))

    def check(self, arch: Arch | Mapping[str, Value]) -> None:
        """Raises :class:`ConfigError` listing what is wrong with ``arch``, if anything."""
        values = arch.to_dict() if isinstance(arch, Arch) else arch
        problems = self.validate(values)
        if problems:
            raise ConfigError(f"architecture for space `{self.name}` is invalid: " + "; ".join(problems))

    def validate(self, values: Arch | Mapping[str, Value]) -> list[str]:
        """Returns what is wrong with the values (an empty list when they are valid)."""
        if isinstance(values, Arch):
            values = values.to_dict()
        problems = [f"unknown label `{k}`" for k in values if k not in self._by_label]
        for c in self.choices:
            if not self._active(c, values):
                continue
            if c.label not in values:
                problems.append(f"`{c.label}` is missing")
            elif values[c.label] not in c.options:
                problems.append(f"`{c.label}` must be one of {list(c.options)}, got {values[c.label]!r}")
        return problems

    def sample(self, rng: np.random.Generator) -> Arch:
        """Draws an architecture uniformly per dimension with the caller's generator."""
        values = {c.label: c.options[int(rng.integers(len(c.options)))] for c in self.choices}
        return self.make(values)

    def max_values(self) -> dict[str, Value]:
        """The last option of every dimension (spaces list options from small to large)."""
        return {c.label: c.options[-1] for c in self.choices}

    def min_values(self) -> dict[str, Value]:
        """The first option of every dimension."""
        return {c.label: c.options[0] for c in self.choices}

    def suggest(self, trial: optuna.Trial) -> Arch:
        """Asks an Optuna trial for every dimension (a fixed search space) and canonicalises."""
        values = {c.label: trial.suggest_categorical(c.label, list(c.options)) for c in self.choices}
        return self.make(values)

    def params(self, arch: Arch) -> dict[str, Value]:
        """Full Optuna parameters for ``arch``: inactive dimensions filled with their first option."""
        values = arch.to_dict()
        return {c.label: values.get(c.label, c.options[0]) for c in self.choices}

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot per dimension (inactive dimensions all zero), as float32."""
        parts = []
        values = arch.to_dict()
        for c in self.choices:
            onehot = np.zeros(len(c.options), dtype=np.float32)
            if c.label in values:
                onehot[c.options.index(values[c.label])] = 1.0
            parts.append(onehot)
        return np.concatenate(parts)

    def cardinality(self) -> int:
        """Upper bound on the number of architectures (product of option counts)."""
        return int(np.prod([len(c.options) for c in self.choices], dtype=np.float64))

    def enumerate(self, limit: int = 100_000) -> Iterator[Arch]:
        """Yields every distinct canonical architecture.

        Raises:
            ConfigError: if the product of option counts exceeds ``limit``.
        """
        if self.cardinality() > limit:
            raise ConfigError(
                f"`limit` must be at least the space size to enumerate `{self.name}`, "
                f"got {limit} < {self.cardinality()}"
            )
        seen: set[str] = set()
        for combo in itertools.product(*(c.options for c in self.choices)):
            arch = self.make(dict(zip(self.labels, combo)))
            if arch.arch_id not in seen:
                seen.add(arch.arch_id)
                yield arch

    def arch_from_json(self, data: str | Mapping[str, Any]) -> Arch:
        """Parses an architecture stored as JSON text or a dict, and validates it."""
        values = json.loads(data) if isinstance(data, str) else dict(data)
        return self.make(values)

    def _active(self, c: Choice, values: Mapping[str, Value]) -> bool:
        return c.when is None or c.when.holds(values)
