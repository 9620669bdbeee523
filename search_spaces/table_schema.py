"""Column roles of a table-backed space: :class:`TableSchema`, inference and the sidecar YAML.

Declared in ``<csv>.yaml`` (``choices: [...]``, ``accuracy: col``, ``test_accuracy: col``,
``latency: {device: col}``) or inferred: ``*_ms`` columns are latencies, float columns metrics
(accuracy: the first whose name has ``acc`` and ``val``, else ``acc``; test accuracy: the first
with ``test``; a column named like an accuracy or ``*_ms`` is a metric even if a bad cell makes it
non-numeric, so that it is refused by name), and the other string / integer columns choices (an
integer column that is unique per row, such as an index, is ignored). Every check names the file,
the column and the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import ConfigError
from nas.space import Value

__all__ = ["CPU_ALIAS", "TableSchema", "infer_schema", "read_sidecar", "read_csv", "check_columns"]

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


def check_columns(frame: Any, schema: TableSchema, source: str) -> None:
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


def read_csv(path: Path) -> Any:
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
