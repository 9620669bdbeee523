"""The predictor benchmark harness on a small synthetic table of the NB201 shape."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pandas as pd
import pytest

from benchmarks.predictors_bench import run
from predictors import NB201_OPS, NB201Encoder, nb201_arch_str


@pytest.fixture
def table(tmp_path):
    """300 random cells with an accuracy that depends on their structure; odd column names."""
    rng = np.random.default_rng(0)
    cells = [nb201_arch_str(ops) for ops in product(NB201_OPS, repeat=6)]
    cells = [cells[i] for i in rng.choice(len(cells), 300, replace=False)]
    X = NB201Encoder().encode(cells)
    acc = 60 + 5 * X[:, -7] + 3 * X[:, -4] - 40 * X[:, -1] + rng.normal(0, 0.5, len(cells))
    path = tmp_path / "cells.csv"
    pd.DataFrame({"cell": cells, "my_acc": acc, "other": 0.0}).to_csv(path, index=False)
    return path


def test_run_reports_metrics_per_predictor_and_size(table, tmp_path) -> None:
    out = tmp_path / "res" / "bench.json"
    data = run(str(table), "my_acc", sizes=(20, 60), seeds=2, out=str(out), arch_col="cell",
               n_test=100, predictors=["ridge", "random_forest"])
    assert json.loads(out.read_text()) == data
    assert data["n_test"] == 100 and data["sizes"] == [20, 60]
    res = data["results"]
    assert set(res) == {"ridge", "random_forest"} and set(res["ridge"]) == {"20", "60"}
    for metric in ("kendall_tau", "spearman", "mape", "within_10", "fit_s"):
        assert set(res["ridge"]["60"][metric]) == {"mean", "std"}
    # the target is learnable from the structural features
    assert res["random_forest"]["60"]["kendall_tau"]["mean"] > 0.5


def test_run_checks_columns_and_sizes(table) -> None:
    with pytest.raises(ValueError, match="must have a column 'acc'"):
        run(str(table), "acc", arch_col="cell")
    with pytest.raises(ValueError, match="`sizes`"):
        run(str(table), "my_acc", sizes=(299,), seeds=1, arch_col="cell", predictors=["ridge"])
