"""The ``nb201`` space: NAS-Bench-201 cells, metrics looked up in a table (never trained).

A cell has six edges, each one of five ops. The space has one :class:`~nas.space.Choice` per
edge, labelled ``edge_<to>_<from>`` in cell-string order (``edge_1_0, edge_2_0, edge_2_1,
edge_3_0, edge_3_1, edge_3_2``), options in :data:`NB201_OPS` order.

The table is ``$SHARENAS_NB201`` or the bundled copy ``search_spaces/data/nb201/nb201_dev.csv.gz``
(MIT-licensed sources, see the LICENSE files beside it): any CSV (optionally gzipped) with
an ``arch_str`` column of cell strings, accuracy columns and ``<device>_ms`` latency columns
works (see :mod:`search_spaces.table` for how columns are found).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nas.catalog import SPACES
from nas.errors import ConfigError
from nas.space import Arch, Value
from search_spaces.table import Table, TableSchema, infer_schema, load_table, table_spec

__all__ = ["NB201_OPS", "NB201_EDGES", "EDGE_LABELS", "nb201_path", "load_nb201", "cell_string", "parse_cell",
           "nb201_structure", "short_nb201"]

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_LABELS: tuple[str, ...] = tuple(f"edge_{t}_{f}" for t, f in NB201_EDGES)
ARCH_COLUMN = "arch_str"
_DEFAULT_DEVICES = ("cpu", "raspi4", "fpga", "gold_6226", "titanxp_1")
_OPTIONS = {label: NB201_OPS for label in EDGE_LABELS}
_CONVS = frozenset({"nor_conv_1x1", "nor_conv_3x3"})


def nb201_path() -> Path:
    """Where the NB201 table is: ``$SHARENAS_NB201`` or the copy bundled with the package."""
    env = os.environ.get("SHARENAS_NB201")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "data" / "nb201" / "nb201_dev.csv.gz"


def parse_cell(arch_str: str) -> dict[str, str]:
    """Cell string -> ``{edge_label: op}``.

    Raises:
        ConfigError: if the string is not a well-formed NB201 cell.
    """
    sections = str(arch_str).strip().split("+")
    ops: list[str] = []
    for node, section in enumerate(sections, start=1):
        for src, token in enumerate(section.strip().strip("|").split("|")):
            op, _, at = token.partition("~")
            if op not in NB201_OPS or at != str(src):
                raise ConfigError(f"`arch_str` must list 'op~j' entries with op in {list(NB201_OPS)}, got {arch_str!r}")
            ops.append(op)
    if len(sections) != 3 or len(ops) != 6:
        raise ConfigError(f"`arch_str` must describe 3 nodes and 6 edges, got {arch_str!r}")
    return dict(zip(EDGE_LABELS, ops))


def cell_string(arch: Arch | Mapping[str, Value]) -> str:
    """The NB201 cell string of an architecture (inverse of :func:`parse_cell`)."""
    by_node: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for (to, src), label in zip(NB201_EDGES, EDGE_LABELS):
        by_node[to].append(f"{arch[label]}~{src}")
    return "+".join("|" + "|".join(by_node[k]) + "|" for k in (1, 2, 3))


def nb201_structure(arch: Arch | Mapping[str, Value]) -> np.ndarray:
    """Structural features: live edges (6), path count, max / min conv depth, disconnected.

    An edge is live when it is not ``none`` and lies on an input-to-output path (DESIGN §8).
    """
    op = {e: str(arch[label]) for e, label in zip(NB201_EDGES, EDGE_LABELS)}
    fwd = [True, False, False, False]
    for to in (1, 2, 3):
        fwd[to] = any(fwd[s] and op[(to, s)] != "none" for s in range(to))
    bwd = [False, False, False, True]
    for s in (2, 1, 0):
        bwd[s] = any(bwd[t] and op[(t, s)] != "none" for t in range(s + 1, 4))
    live = [float(op[(t, s)] != "none" and fwd[s] and bwd[t]) for t, s in NB201_EDGES]
    paths, hi, lo = [1, 0, 0, 0], [0.0, -np.inf, -np.inf, -np.inf], [0.0, np.inf, np.inf, np.inf]
    for to in (1, 2, 3):
        for s in range(to):
            if op[(to, s)] == "none" or not fwd[s]:
                continue
            c = float(op[(to, s)] in _CONVS)
            paths[to] += paths[s]
            hi[to], lo[to] = max(hi[to], hi[s] + c), min(lo[to], lo[s] + c)
    ok = paths[3] > 0
    return np.array([*live, paths[3], hi[3] if ok else 0.0, lo[3] if ok else 0.0, float(not ok)], dtype=np.float32)


def _decode(row: Mapping[str, Any]) -> Mapping[str, Value]:
    return parse_cell(row[ARCH_COLUMN])


def _schema(head: Any, source: Path) -> TableSchema:
    """Column roles of an NB201-shaped table from its first rows (``arch_str`` decodes to the edges)."""
    if ARCH_COLUMN not in head:
        raise ConfigError(f"NB201 table {str(source)!r} must have an `{ARCH_COLUMN}` column, got {list(head.columns)}")
    try:
        base = infer_schema(head.drop(columns=[ARCH_COLUMN]), {"choices": list(EDGE_LABELS)})
    except ConfigError as e:
        raise ConfigError(f"NB201 table {str(source)!r}: {e}") from None
    return TableSchema(EDGE_LABELS, base.accuracy, base.test_accuracy, base.latency, _decode, _OPTIONS)


def _head(p: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(p, nrows=5)
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise ConfigError(f"NB201 table {str(p)!r} must be a readable CSV file, got {type(e).__name__}: {e}") from None


def load_nb201(path: str | os.PathLike[str] | None = None) -> Table:
    """Loads the NB201 table (``path``, else :func:`nb201_path`).

    Raises:
        ConfigError: naming the file if it is missing, has no ``arch_str`` column or a bad column.
    """
    p = Path(path) if path is not None else nb201_path()
    if not p.is_file():
        raise ConfigError(f"`SHARENAS_NB201` must name the NB201 CSV, got {str(p)!r} (not found)")
    return load_table(p, "nb201", _schema(_head(p), p))


def _header_devices_metrics() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Devices and metric names from the table's first rows (cheap: import time)."""
    p = nb201_path()
    try:
        head = _head(p)
        t = Table("nb201", head, _schema(head, p), source=str(p))
    except (ConfigError, OSError):
        return _DEFAULT_DEVICES, ("accuracy", "test_accuracy", "latency_ms")
    return t.schema.devices, t.metrics


def short_nb201(arch: Arch) -> str:
    """Compact form: the six edge ops abbreviated, e.g. ``c3 c3 p | s c1 n``."""
    ab = {"none": "n", "skip_connect": "s", "nor_conv_1x1": "c1", "nor_conv_3x3": "c3", "avg_pool_3x3": "p"}
    return " ".join(ab[str(arch[label])] for label in EDGE_LABELS)


_devices, _metrics = _header_devices_metrics()
SPACES.add("nb201", table_spec(
    "nb201", load_nb201, ("cifar10-valid",),
    "NAS-Bench-201 cells (6 edges x 5 ops), metrics and device latencies looked up in a table",
    _devices, _metrics, features=nb201_structure, short=short_nb201,
))
