"""Shared fixtures of the predictor tests: synthetic data and the NB201 table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

NB201_CSV = Path(__file__).resolve().parents[2] / "search_spaces/data/nb201/nb201_dev.csv.gz"


def _synthetic(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    if kind == "latency":
        X[:, 0] = rng.uniform(1.0, 10.0, n)
        y = X[:, 0] * (1.2 + 0.2 * np.tanh(X[:, 1])) + 0.05 * rng.normal(size=n)
    else:
        y = 50.0 + 5.0 * X[:, 0] + 3.0 * X[:, 1] - 2.0 * X[:, 2] + 0.5 * rng.normal(size=n)
    return X, y


@pytest.fixture(scope="session")
def synthetic() -> Callable[[str, int, int], tuple[np.ndarray, np.ndarray]]:
    """``synthetic(kind, n, seed) -> (X, y)``: a clearly learnable target on 8 features.

    For ``kind="latency"`` column 0 is a positive LUT sum and ``y`` is it times a smooth
    correction; otherwise ``y`` is linear in three features plus noise (sd 0.5) around 50.
    """
    return _synthetic


@pytest.fixture(scope="session")
def nb201_table() -> pd.DataFrame:
    if not NB201_CSV.exists():
        pytest.skip(f"NB201 table not found at {NB201_CSV} (bundled data missing)")
    return pd.read_csv(NB201_CSV)
