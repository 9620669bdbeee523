"""Predictor quality on a NAS-Bench-201-shaped table: the four metrics vs. training size.

For every registered accuracy predictor, every training size and every seed, the harness
samples that many rows (seeded), fits on :func:`predictors.nb201_features` of the arch-string
column, predicts a fixed held-out sample (disjoint from every training sample) and reports
Kendall tau, Spearman, MAPE and share within ±10% as mean and std over seeds.

Run: ``python -m benchmarks.predictors_bench TABLE.csv [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predictors import PREDICTORS, NB201Encoder, make_predictor, regression_report
from predictors.trees import HAS_XGBOOST
from benchmarks.results_io import write_result

__all__ = ["run", "main"]

METRICS = ("kendall_tau", "spearman", "mape", "within_10")


def run(
    table: str,
    acc_col: str = "c10_valid_acc_200ep",
    sizes: Sequence[int] = (25, 50, 100, 200),
    seeds: int = 3,
    out: str | None = None,
    *,
    arch_col: str = "arch_str",
    n_test: int = 2000,
    predictors: Sequence[str] | None = None,
    split_seed: int = 12345,
) -> dict[str, Any]:
    """Benchmarks the accuracy predictors on a table of NB201 cells.

    Args:
        table: CSV file with an arch-string column and an accuracy column.
        acc_col: Name of the accuracy column (the target).
        sizes: Training-set sizes.
        seeds: Number of seeds (0..seeds-1) per size; each draws its own training sample.
        out: If given, the JSON result is written there (atomically).
        arch_col: Name of the NB201 cell-string column.
        n_test: Size of the fixed held-out sample (capped so training rows remain).
        predictors: Names to run; default every registered predictor of kind ``accuracy``.
        split_seed: Seed of the held-out sample.

    Returns:
        A JSON-ready dict: settings, and ``results[predictor][str(size)][metric] = {mean, std}``
        plus ``fit_s`` (mean fit seconds).

    Raises:
        ValueError: if a column is missing, a size does not fit, or ``seeds`` < 1.
    """
    df = pd.read_csv(table)
    for col in (arch_col, acc_col):
        if col not in df.columns:
            raise ValueError(f"`table` must have a column {col!r}, got {list(df.columns)}")
    if seeds < 1:
        raise ValueError(f"`seeds` must be positive, got {seeds}")
    names = list(predictors) if predictors is not None else [
        n for n in PREDICTORS.names() if PREDICTORS[n].kind == "accuracy"
    ]
    X = NB201Encoder().encode(df[arch_col].tolist())
    y = df[acc_col].to_numpy(dtype=float)
    n_rows = len(y)
    n_test = min(n_test, n_rows - max(sizes))
    if n_test < 2:
        raise ValueError(f"`sizes` must leave at least 2 held-out rows of {n_rows}, got max {max(sizes)}")
    perm = np.random.default_rng(split_seed).permutation(n_rows)
    test_idx, pool = perm[:n_test], perm[n_test:]

    results: dict[str, Any] = {}
    t_start = time.perf_counter()
    for name in names:
        results[name] = {}
        for size in sizes:
            if not 2 <= size <= len(pool):
                raise ValueError(f"`sizes` must be in [2, {len(pool)}], got {size}")
            per_seed: dict[str, list[float]] = {m: [] for m in (*METRICS, "fit_s")}
            for seed in range(seeds):
                train_idx = np.random.default_rng(seed).choice(pool, size=size, replace=False)
                model = make_predictor(name, seed=seed)
                t0 = time.perf_counter()
                model.fit(X[train_idx], y[train_idx])
                per_seed["fit_s"].append(time.perf_counter() - t0)
                mean, _ = model.predict(X[test_idx])
                for metric, value in regression_report(y[test_idx], mean).items():
                    per_seed[metric].append(value)
            results[name][str(size)] = {
                m: {"mean": float(np.mean(v)), "std": float(np.std(v))} for m, v in per_seed.items()
            }
    data = {
        "benchmark": "predictors",
        "table": Path(table).name,
        "arch_col": arch_col,
        "acc_col": acc_col,
        "sizes": [int(s) for s in sizes],
        "seeds": int(seeds),
        "n_test": int(n_test),
        "split_seed": int(split_seed),
        "encoder": "nb201",
        "platform": {"python": platform.python_version(), "machine": platform.machine()},
        "gbm_backend": "xgboost" if HAS_XGBOOST else "sklearn",  # gbm falls back when xgboost is absent
        "total_s": round(time.perf_counter() - t_start, 2),
        "results": results,
    }
    if out is not None:
        write_result(data, out)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints Kendall tau per predictor and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--acc-col", default="c10_valid_acc_200ep")
    parser.add_argument("--arch-col", default="arch_str")
    parser.add_argument("--sizes", default="25,50,100,200")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    data = run(
        args.table, args.acc_col, tuple(int(s) for s in args.sizes.split(",")), args.seeds,
        args.out, arch_col=args.arch_col, n_test=args.n_test,
    )
    for name, by_size in data["results"].items():
        taus = ", ".join(f"n={s}: {r['kendall_tau']['mean']:.3f}" for s, r in by_size.items())
        print(f"{name:14s} {taus}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
