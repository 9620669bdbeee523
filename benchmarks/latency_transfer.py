"""``nas bench latency-transfer``: few-shot latency prediction for a new device.

For every latency column of a table (``<device>_ms``) as the target, the other columns as
sources, a few-shot predictor is fit on ``N`` random rows "measured" on the target and scored
(Spearman, Kendall tau, MAPE, share within ±10%) on the held-out rows, for each ``N`` in ``ns``,
averaged over ``seeds`` draws. ``method``:

- ``meta`` (default): :class:`~nas.profiling.transfer_meta.MetaTransfer`, penalties meta-learned
  on the source devices, a sources model and a structure model averaged by leave-one-out error;
- ``ridge``: :class:`~nas.profiling.transfer.FewShotTransfer`, one ridge on the source latencies
  (beside the structure when ``features`` is not ``none``).

``features`` (``auto``: ``counts`` when the table has ``arch_str``): ``counts`` (how often each NB201 operation occurs in the cell, 4 columns, ``none``
the reference), ``full`` (the 44 columns of ``predictors.nb201_features``) or ``none``.
Target (issue 4): mean Spearman over the four NB201 devices of at least 0.93 with ``N = 10``
(HELP reports 0.932 with 10 samples).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results_io import write_result

__all__ = ["run"]


METHODS = {
    "meta": "log-space ridge models on (a) the source devices' log latencies and (b) the structural features, "
            "penalties meta-learned by n-shot transfer among the source devices, averaged by inverse "
            "leave-one-out error on the N target rows",
    "ridge": "ridge on log source-device latencies (log target, beside the structure if given), alpha by leave-one-out",
}


def _default_table() -> str:
    return str(Path(__file__).resolve().parents[1] / "search_spaces" / "data" / "nb201" / "nb201_dev.csv.gz")


def _structure(frame: Any, kind: str) -> np.ndarray | None:
    """Structural features of the table's cells (``arch_str`` column) or ``None``."""
    from nas.errors import invalid

    if kind == "none" or (kind == "auto" and "arch_str" not in frame.columns):
        return None
    if "arch_str" not in frame.columns:
        raise invalid("--features", "need an `arch_str` column of NB201 cell strings", list(frame.columns))
    from predictors import NB201_OPS, nb201_features, parse_nb201

    if kind == "full":
        return np.stack([nb201_features(a) for a in frame["arch_str"]])
    if kind in ("counts", "auto"):
        ops = [parse_nb201(a) for a in frame["arch_str"]]
        return np.array([[cell.count(op) for op in NB201_OPS[1:]] for cell in ops], float)
    raise invalid("--features", "be `auto`, `counts`, `full` or `none`", kind)


def run(table: str = "", ns: tuple[int, ...] = (10, 20, 50, 100), seeds: int = 10, predictor: str = "ridge",
        features: str = "auto", method: str = "meta", max_eval: int = 0, out: str | None = None) -> dict[str, Any]:
    """Runs the benchmark and returns (and writes to ``out``) its JSON summary.

    Args:
        table: CSV (optionally gzipped) with ``<device>_ms`` columns (empty: the bundled NB201 table).
        ns: Target measurements to fit on.
        seeds: Random draws of the ``N`` rows per ``N`` and device.
        predictor: A registered :mod:`predictors` name (``ridge``, ``gbm``, ``svr``, ...).
        features: Structural features: ``counts``, ``full`` or ``none`` (need ``arch_str``);
            ``auto``: ``counts`` when the table has ``arch_str``, else ``none``.
        method: ``meta`` or ``ridge`` (see the module docstring).
        max_eval: Score on at most this many held-out rows (0: all of them).
        out: JSON file to write.
    """
    import pandas as pd

    from nas.errors import invalid
    from nas.profiling.transfer import transfer_curve

    path = table or _default_table()
    if not Path(path).is_file():
        raise invalid("--table", "name an existing CSV file", path)
    if seeds <= 0:
        raise invalid("--seeds", "be positive", seeds)
    frame = pd.read_csv(path)
    columns = [c for c in frame.columns if c.endswith("_ms")]
    if len(columns) < 2:
        raise invalid("--table", "have at least two `<device>_ms` latency columns", columns)
    feats = _structure(frame, str(features))
    t0 = time.perf_counter()
    curve = transfer_curve(frame[columns].to_numpy(float), [c[:-3] for c in columns], [int(n) for n in ns],
                           list(range(seeds)), feats, predictor, max_eval or None, method)
    summary: dict[str, Any] = {
        "benchmark": "latency-transfer", "table": Path(path).name, "rows": len(frame), "devices": [c[:-3] for c in columns],
        "ns": [int(n) for n in ns], "seeds": seeds, "predictor": predictor, "structural_features": features,
        "method": method,
        "method_detail": METHODS.get(method, ""),
        "mean_spearman": curve["mean_spearman"], "per_device": curve["per_device"],
        "target": {"n": 10, "mean_spearman": 0.93},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    ten = curve["mean_spearman"].get("10")
    summary["target_met"] = None if ten is None else ten >= 0.93
    if out:
        write_result(summary, out)
    return summary
