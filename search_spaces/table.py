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
sidecar YAML ``<csv>.yaml`` (``choices: [...]``, ``accuracy: col``, ``test_accuracy: col``,
``latency: {device: col}``) or, without one, inferred: ``*_ms`` columns are latencies, other
float columns metrics (accuracy: the first whose name has ``acc`` and ``val``, else ``acc``;
test accuracy: the first with ``test``; a column named like an accuracy or ``*_ms`` is a metric
even if a bad cell makes it non-numeric, so that it is refused by name), and the other string /
integer columns choices (an integer column that is unique per row, such as an index, is ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.catalog import SPACES, SpaceSpec
from nas.errors import ConfigError, EvaluationError
from nas.space import Arch, Choice, SearchSpace, Value

__all__ = ["TableSchema", "Table", "TableEvaluator", "load_table", "infer_schema", "table_spec", "CPU_ALIAS"]

CPU_ALIAS = "cpu"
Decoder = Callable[[Mapping[str, Any]], Mapping[str, Value]]


@dataclass(frozen=True)
class TableSchema:
    """Which columns of a table are choices and which are metrics.

    Attributes:
        choices: Choice columns, in the order of the space's dimensions (after ``decode``).
        accuracy: Column reported as ``accuracy``.
        test_accuracy: Column reported as ``test_accuracy`` (``None``: not reported).
        latency: Device name -> latency column (ms); the first is also ``cpu``.
        decode: Optional row -> choice values (e.g. an NB201 cell string -> six edges); its
            labels are ``choices``.
        options: Optional declared option order per choice column (default: sorted values).
    """

    choices: tuple[str, ...]
    accuracy: str
    test_accuracy: str | None = None
    latency: Mapping[str, str] = field(default_factory=dict)
    decode: Decoder | None = None
    options: Mapping[str, tuple[Value, ...]] | None = None

    @property
    def devices(self) -> tuple[str, ...]:
        """``cpu`` (alias of the first latency column) followed by the table's devices."""
        names = tuple(self.latency)
        return (CPU_ALIAS, *[n for n in names if n != CPU_ALIAS]) if names else ()


def _is_num(frame: Any, c: str) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c]))


def _is_float(frame: Any, c: str) -> bool:
    from pandas.api.types import is_float_dtype

    return bool(is_float_dtype(frame[c]))


def _is_index(frame: Any, c: str) -> bool:
    """An integer column unique per row (a row id, not a choice or a metric)."""
    from pandas.api.types import is_integer_dtype

    return bool(is_integer_dtype(frame[c]) and len(frame) > 1 and frame[c].nunique() == len(frame))


def _check_columns(frame: Any, schema: TableSchema, source: str) -> None:
    """Raises :class:`ConfigError` naming the file and the column for a missing or non-numeric column."""
    metrics = [c for c in (schema.accuracy, schema.test_accuracy, *schema.latency.values()) if c]
    missing = [c for c in metrics if c not in frame]
    if schema.decode is None:
        missing += [c for c in schema.choices if c not in frame]
    if missing:
        raise ConfigError(f"table {source!r} must have the declared columns, missing {missing} "
                          f"(columns: {list(frame.columns)})")
    if not schema.latency:
        raise ConfigError(f"table {source!r} must have at least one latency column `<device>_ms`, got none "
                          f"(columns: {list(frame.columns)})")
    for c in metrics:
        if not _is_num(frame, c):
            import pandas as pd

            bad = frame[c][pd.to_numeric(frame[c], errors="coerce").isna()]
            example = bad.iloc[0] if len(bad) else frame[c].iloc[0]
            row = int(frame.index.get_loc(bad.index[0])) + 1 if len(bad) else 1
            raise ConfigError(f"metric column `{c}` of table {source!r} must be numeric, got {example!r} (row {row})")
        if frame[c].isna().any():
            raise ConfigError(f"metric column `{c}` of table {source!r} must have a number in every row, "
                              f"got an empty cell (row {int(frame[c].isna().to_numpy().argmax()) + 1})")
    for c in schema.choices:
        if schema.decode is None and frame[c].isna().any():
            raise ConfigError(f"choice column `{c}` of table {source!r} must have a value in every row, "
                              f"got an empty cell (row {int(frame[c].isna().to_numpy().argmax()) + 1})")


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
        _check_columns(frame, schema, self.source)
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


def infer_schema(frame: Any, overrides: Mapping[str, Any] | None = None) -> TableSchema:
    """Column roles of a table from a sidecar's ``overrides`` and the inference rules above.

    Raises:
        ConfigError: when no accuracy column or no choice column can be found.
    """
    o = dict(overrides or {})
    cols = list(frame.columns)
    latency = dict(o.get("latency") or {c[:-3]: c for c in cols if c.endswith("_ms")})
    rest = [c for c in cols if c not in latency.values()]
    floats = [c for c in rest if _is_float(frame, c)]
    # Named like an accuracy: a metric even when a bad cell makes it non-numeric (then refused by name).
    accs = [c for c in rest if "acc" in c.lower() and "test" not in c.lower()]
    accuracy = o.get("accuracy") or next((c for c in accs if "val" in c.lower()), accs[0] if accs else None)
    if accuracy is None:
        raise ConfigError(f"table must declare an `accuracy` column (sidecar YAML) or have one named *acc*, got columns {cols}")
    tests = [c for c in rest if "test" in c.lower() and ("acc" in c.lower() or c in floats)]
    test = o.get("test_accuracy", tests[0] if tests else None)
    choices = o.get("choices")
    if choices is None:
        metric_cols = {accuracy, test, *floats}
        choices = [c for c in rest if c not in metric_cols and not _is_index(frame, c)]
    if not choices:
        raise ConfigError(f"table must declare `choices` columns (sidecar YAML) or have string/integer columns, got {cols}")
    return TableSchema(tuple(choices), accuracy, test, latency)


_SIDECAR_KEYS = ("choices", "accuracy", "test_accuracy", "latency")


def _read(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ConfigError(f"table {str(path)!r} must be a readable CSV file, got {type(e).__name__}: {e}") from None


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The column declarations of ``<csv>.yaml`` beside ``path`` (``None`` when there is none).

    Raises:
        ConfigError: naming the sidecar file and the key when a declaration is malformed.
    """
    side = path.with_name(path.name + ".yaml")
    if not side.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(side.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"sidecar {str(side)!r} must be valid YAML, got {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"sidecar {str(side)!r} must be a mapping of {list(_SIDECAR_KEYS)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in _SIDECAR_KEYS]
    if unknown:
        raise ConfigError(f"sidecar {str(side)!r} keys must be among {list(_SIDECAR_KEYS)}, got {unknown}")
    if "choices" in data and not (isinstance(data["choices"], list) and all(isinstance(c, str) for c in data["choices"])):
        raise ConfigError(f"sidecar {str(side)!r} `choices` must be a list of column names, got {data['choices']!r}")
    lat = data.get("latency")
    if lat is not None and not (isinstance(lat, dict) and all(isinstance(v, str) for v in lat.values())):
        raise ConfigError(f"sidecar {str(side)!r} `latency` must map device names to columns, got {lat!r}")
    return data


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
    frame = _read(p)
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
