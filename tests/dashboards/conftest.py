"""Fixtures of the dashboard tests: run folders in the store's format, read by the dashboards."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dashboard_load import make_run
from dashboards.data import RunCache, RunView


@pytest.fixture(scope="package")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder with two synthetic finished runs (40 and 30 trials, latency cap 0.8 ms)."""
    root = tmp_path_factory.mktemp("dash") / "runs"
    make_run(root, trials=40, seed=0, run_id="run-a")
    make_run(root, trials=30, seed=1, run_id="run-b", latency_cap=0.6)
    return root


@pytest.fixture(scope="package")
def view_a(runs_dir: Path) -> RunView:
    """The view of ``run-a``."""
    return RunCache().get(runs_dir / "run-a")


@pytest.fixture(scope="package")
def view_b(runs_dir: Path) -> RunView:
    """The view of ``run-b``."""
    return RunCache().get(runs_dir / "run-b")
