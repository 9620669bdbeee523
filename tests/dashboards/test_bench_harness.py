"""The page-load benchmark harness (server-side part; the browser part is the browser test's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import BENCHMARKS
from benchmarks.dashboard_load import make_run, run
from nas.errors import ConfigError


def test_harness_measures_and_writes_json(tmp_path: Path) -> None:
    assert BENCHMARKS["dashboard_load"] == "benchmarks.dashboard_load"
    out = tmp_path / "load.json"
    result = run(trials=30, repeats=1, browser=False, small_trials=5, out=str(out))
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    server = result["server"]
    assert server["front_size"] >= 1 and all(server[k] >= 0 for k in ("view_cold_s", "front_figure_s"))
    assert result["browser"] == {"skipped": "browser=False"}


def test_synthetic_run_is_a_readable_run_folder(tmp_path: Path) -> None:
    from nas.cli import main

    make_run(tmp_path, trials=8, seed=2, run_id="syn")
    assert main(["front", "syn", "--runs-dir", str(tmp_path), "--format", "json"]) == 0
    with pytest.raises(ConfigError, match="trials"):
        make_run(tmp_path, trials=1, run_id="tiny")
