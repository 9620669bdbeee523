"""Fixtures of the space contract suites: tiny inputs per trainable space, small generated tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas.catalog import SPACES

TRAINABLE = [n for n in SPACES.names() if SPACES.get(n).trainable]


def write_table(path: Path, rows: int | None = None) -> Path:
    """A small NB201-shaped CSV: choices ``op`` (str) and ``width`` (int), an index, two accuracy
    columns, a second metric and two device latencies, all derived from the choices."""
    import pandas as pd

    ops, widths, depths = ["conv", "pool", "skip", "none"], [8, 16, 32], [1, 2, 3, 4]
    records = []
    for i, (op, w, d) in enumerate((o, w, d) for o in ops for w in widths for d in depths):
        score = {"conv": 3.0, "pool": 2.0, "skip": 1.0, "none": 0.0}[op]
        records.append({"row_id": i, "op": op, "width": w, "depth": d,
                        "val_acc_top1": 50.0 + 5 * score + w / 4 + d, "test_acc": 49.0 + 5 * score + w / 4 + d,
                        "energy_mj": 0.1 * w * d, "edge_ms": 0.5 * w * d + score, "server_ms": 0.05 * w * d})
    frame = pd.DataFrame.from_records(records[:rows] if rows else records)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    """Path of a generated 48-row table (4 ops x 3 widths x 4 depths)."""
    return write_table(tmp_path / "toy.csv")


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
