"""Run folders as the dashboards read them: safe paths, status labels, the per-change cache."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from dashboards.data import RunCache, list_runs, safe_run_path, status_label
from nas.results import front_frame, run_hypervolume
from nas.store import RunStore


def test_safe_run_path_accepts_only_run_folders_inside(runs_dir: Path, tmp_path: Path) -> None:
    assert safe_run_path(runs_dir, "run-a") == (runs_dir / "run-a").resolve()
    for bad in ("../../etc/passwd", "..", ".", "run-a/../run-b", "/etc", "", "nope", ".hidden", None, 3, "a\x00b"):
        assert safe_run_path(runs_dir, bad) is None, bad
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "manifest.json").write_text("{}")
    link = runs_dir / "escape"
    link.symlink_to(outside)
    try:
        assert safe_run_path(runs_dir, "escape") is None  # a link leaving the runs folder
    finally:
        link.unlink()
    assert [p.name for p in list_runs(runs_dir)] == ["run-a", "run-b"]
    assert list_runs(tmp_path / "missing") == []


def test_status_labels() -> None:
    host = socket.gethostname()
    assert status_label({"status": "finished"}) == "finished"
    assert status_label({"status": "failed"}) == "failed"
    assert status_label({"status": "searching", "pid": os.getpid(), "host": host}) == "running"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    assert status_label({"status": "training", "pid": dead, "host": host}) == "stopped"
    assert status_label({"status": "searching", "pid": dead, "host": "elsewhere"}) == "running"
    assert status_label({}) == "unknown"


def test_view_front_and_hypervolume_agree_with_the_cli(view_a, runs_dir: Path) -> None:
    store = RunStore(runs_dir / "run-a")
    df = store.trials()
    expected = front_frame(df, view_a.objectives)
    assert sorted(view_a.front["trial"]) == sorted(expected["trial"])
    assert int(view_a.trials["on_front"].sum()) == len(expected)
    hv, ref = run_hypervolume(df, view_a.objectives)
    assert view_a.hypervolume == pytest.approx(hv)
    assert np.allclose(view_a.reference, ref)


def test_cache_recomputes_only_when_the_run_changes(tmp_path: Path) -> None:
    from benchmarks.dashboard_load import make_run

    path = make_run(tmp_path, trials=12, seed=3, run_id="live")
    cache = RunCache()
    first = cache.get(path)
    assert cache.get(path) is first and cache.loads == 1
    RunStore(path).update_manifest(status="searching")  # a writer replaces the manifest atomically
    second = cache.get(path)
    assert cache.loads == 2 and second is not first and second.manifest["status"] == "searching"


def test_broken_run_is_listed_with_its_error(tmp_path: Path) -> None:
    from benchmarks.dashboard_load import make_run

    path = make_run(tmp_path, trials=5, seed=0, run_id="broken")
    (path / "trials.parquet").write_bytes(b"not parquet")
    view = RunCache().get(path)
    assert "trials.parquet" in view.error and view.front.empty
