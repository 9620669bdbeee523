"""Table-backed spaces: architectures whose metrics are looked up in a CSV, never trained.

A table has *choice columns* (one :class:`~nas.space.Choice` each, options = the column's
distinct values, sorted) and *metric columns*. Three metric names are canonical:

- ``accuracy``: the declared accuracy column (the search objective),
- ``test_accuracy``: the declared test-accuracy column, when the table has one,
- ``latency_ms``: the latency column of the chosen device. Devices are the columns named
  ``<device>_ms``; ``cpu`` is an alias of the first one, so the default ``--device cpu`` works.

Every other numeric column is also returned under its own (identifier-safe) name, so that
``--objectives raspi4_ms:min`` or a constraint on a second accuracy column validate.

``--space table:<csv>`` registers a generic table on first use. Its columns are declared in a
sidecar YAML ``<csv>.yaml`` or inferred (see :mod:`search_spaces.table_schema`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas.catalog import SPACES, SpaceSpec
from nas.errors import ConfigError, EvaluationError
from nas.space import Arch, Choice, SearchSpace, Value
from search_spaces.table_schema import (CPU_ALIAS, TableSchema, _is_index, _is_num, check_columns, infer_schema,
                                        read_csv, read_sidecar)

__all__ = ["TableSchema", "Table", "TableEvaluator", "load_table", "infer_schema", "table_spec", "CPU_ALIAS"]


def _ident(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if re.match(r"[A-Za-z_]", text) else f"m_{text}"


def _native(v: Any) -> Value:
    return v.item() if isinstance(v, np.generic) else v


class Table:
    """A loaded table: the search space and a lookup from architecture to metrics.

    Args:
        name: Space name.
        frame: The table (a pandas ``DataFrame``).
        schema: Its column roles.
    """

    def __init__(self, name: str, frame: Any, schema: TableSchema, source: str = "") -> None:
        self.name, self.schema, self.source = name, schema, source or name
        check_columns(frame, schema, self.source)
        rows = frame.to_dict("records")
        keys = self._keys(rows)
        choice_cols = set(schema.choices) | {schema.accuracy}
        numeric = [c for c in frame.columns if c not in choice_cols and _is_num(frame, c) and not _is_index(frame, c)]
        self.extra = {_ident(c): c for c in numeric if c not in schema.choices}
        self.extra.setdefault(_ident(schema.accuracy), schema.accuracy)
        self.space = SearchSpace(name, [Choice(c, tuple(o)) for c, o in self._options(keys).items()])
        self._rows: dict[tuple[Value, ...], dict[str, float]] = {}
        for i, (k, r) in enumerate(zip(keys, rows)):
            key = tuple(k[c] for c in schema.choices)
            if key in self._rows:
                raise ConfigError(f"table {self.source!r} must have one row per architecture, got a second row "
                                  f"(row {i + 1}) for {dict(zip(schema.choices, key))}")
            self._rows[key] = {m: float(r[c]) for m, c in self.extra.items()}

    def _keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Value]]:
        if self.schema.decode is None:
            return [{c: _native(r[c]) for c in self.schema.choices} for r in rows]
        keys = []
        for i, r in enumerate(rows):
            try:
                keys.append(dict(self.schema.decode(r)))
            except ConfigError as e:
                raise ConfigError(f"table {self.source!r}, row {i + 1}: {e}") from None
        return keys

    def _options(self, keys: list[dict[str, Value]]) -> dict[str, list[Value]]:
        options = {c: sorted({k[c] for k in keys}, key=lambda v: (str(type(v)), v)) for c in self.schema.choices}
        for c, declared in (self.schema.options or {}).items():
            extra = [v for v in options.get(c, ()) if v not in declared]
            if extra:
                raise ConfigError(f"column `{c}` of table {self.source!r} must take values in {list(declared)}, got {extra}")
            options[c] = list(declared)
        return options

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names an evaluation returns."""
        base = ("accuracy",) + (("test_accuracy",) if self.schema.test_accuracy else ()) + ("latency_ms",)
        return base + tuple(m for m in self.extra if m not in base)

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, arch: Arch, device: str) -> dict[str, float]:
        """The metrics of ``arch`` with ``latency_ms`` from ``device``'s column.

        Raises:
            EvaluationError: if the table has no row for ``arch``.
            ConfigError: if ``device`` is not one of the table's devices.
        """
        column = self.latency_column(device)
        key = tuple(arch[c] for c in self.schema.choices)
        row = self._rows.get(key)
        if row is None:
            raise EvaluationError(f"table `{self.name}` must have a row for the architecture, got none for {arch.short()}")
        out = {"accuracy": row[_ident(self.schema.accuracy)]}
        if self.schema.test_accuracy:
            out["test_accuracy"] = row[_ident(self.schema.test_accuracy)]
        out["latency_ms"] = row[_ident(column)]
        out.update(row)
        return out

    def latency_column(self, device: str) -> str:
        """The latency column of ``device`` (``cpu``: the first latency column)."""
        if device == CPU_ALIAS and CPU_ALIAS not in self.schema.latency:
            return next(iter(self.schema.latency.values()))
        if device not in self.schema.latency:
            raise ConfigError(f"`device` must be one of {list(self.schema.devices)} for table `{self.name}`, got {device!r}")
        return self.schema.latency[device]

    def archs(self) -> list[Arch]:
        """Every architecture the table holds (canonical form), in table order."""
        return [self.space.make(dict(zip(self.schema.choices, k))) for k in self._rows]


class TableEvaluator:
    """``evaluate(arch, seed) -> metrics`` by lookup (picklable, for Ray workers).

    Args:
        table: The loaded table.
        device: Device whose latency column gives ``latency_ms``.
    """

    def __init__(self, table: Table, device: str) -> None:
        table.latency_column(device)  # validates the device
        self.table, self.device = table, device

    def evaluate(self, arch: Arch, seed: int) -> dict[str, float]:
        """Looks ``arch`` up; ``seed`` is unused (tables are deterministic)."""
        del seed
        return self.table.lookup(arch, self.device)


def load_table(path: str | os.PathLike[str], name: str, schema: TableSchema | None = None) -> Table:
    """Reads a CSV (optionally gzipped) and builds its :class:`Table`.

    Args:
        path: The CSV file.
        name: Space name.
        schema: Column roles; ``None`` reads the sidecar ``<csv>.yaml`` or infers them.

    Raises:
        ConfigError: naming the file (and the column) if it is missing, unreadable or its columns do
            not fit.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"`space` {name!r} must name an existing CSV file, got {str(p)!r} (not found)")
    frame = read_csv(p)
    if schema is None:
        try:
            schema = infer_schema(frame, read_sidecar(p))
        except ConfigError as e:
            raise ConfigError(f"table {str(p)!r}: {e}") from None
    return Table(name, frame, schema, source=str(p))


class _Once:
    """Calls ``load`` on first use and keeps the result (each spec owns its loaded table)."""

    def __init__(self, load: Callable[[], Table]) -> None:
        self._load, self._table = load, None  # type: tuple[Callable[[], Table], Table | None]

    def __call__(self) -> Table:
        if self._table is None:
            self._table = self._load()
        return self._table


def table_spec(name: str, load: Callable[[], Table], tasks: Sequence[str], description: str,
               devices: tuple[str, ...], metrics: tuple[str, ...], features: Callable[[Arch], Any] | None = None,
               short: Callable[[Arch], str] | None = None) -> SpaceSpec:
    """A :class:`SpaceSpec` for a table-backed space (loaded once, on first build)."""
    load = _Once(load)

    def build_evaluator(space: SearchSpace, task: str, device: str) -> TableEvaluator:
        del space, task
        return TableEvaluator(load(), device)

    return SpaceSpec(name=name, build_space=lambda: load().space, tasks=tuple(tasks), description=description,
                     metrics=metrics, build_evaluator=build_evaluator, devices=devices, features=features, short=short)


def _generic(name: str) -> SpaceSpec:
    path = name.split(":", 1)[1]
    table = load_table(path, name)
    return table_spec(name, lambda: table, ("table",), f"table-backed space from {path}",
                      table.schema.devices, table.metrics)


SPACES.add_prefix("table:", _generic)
