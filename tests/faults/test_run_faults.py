"""Faults around the run folder: a disk that fills mid-search, corrupt files, two drivers on a run.

Each test asserts what is kept: the rows recorded before the fault, a resumable run, a one-line
error naming the file.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from nas import store as store_module
from nas.cli import main
from nas.store import RunStore

TINY = {
    "budget": 8, "strategy": "random",
    "train": {"epochs": 1, "batch_size": 256, "num_random": 1, "warmup_epochs": 0},
    "eval": {"calib_batches": 2, "latency": {"warmup": 2, "repeats": 10}},
    "execution": {"executor": "local"},
}


def _config(tmp_path, **extra) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY | {"runs_dir": str(tmp_path / "runs")} | extra))
    return str(path)


def _only_run(tmp_path):
    (run,) = list((tmp_path / "runs").iterdir())
    return run


def test_a_disk_that_fills_mid_search_keeps_the_rows_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    real = store_module.append_line
    writes = {"n": 0}

    def fill_up(path, data):
        if str(path).endswith("trials.jsonl"):
            writes["n"] += 1
            if writes["n"] == 4:
                raise_enospc(path)
        return real(path, data)

    def raise_enospc(path):
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        except OSError as e:  # the same translation the real writer does
            from nas.errors import RunStoreError

            raise RunStoreError(f"`{path}` must be writable, got {e.strerror} (the rows before are intact)") from e

    monkeypatch.setattr(store_module, "append_line", fill_up)
    code = main(["search", "--config", _config(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "trials.jsonl" in err[0] and "No space left on device" in err[0] and "nas resume" in err[0]
    run = _only_run(tmp_path)
    kept = RunStore(run).trials()
    assert len(kept) == 3  # every row written before the disk filled is intact
    assert RunStore(run).manifest()["status"] == "failed"

    monkeypatch.setattr(store_module, "append_line", real)  # space was freed
    assert main(["resume", run.name, "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    df = RunStore(run).trials()
    done = df[df["state"] == "complete"]
    assert len(done) == 8 and done["arch_id"].is_unique
    assert set(kept["arch_id"]) <= set(done["arch_id"])  # nothing recorded was lost or redone


def test_a_real_write_failure_names_the_file_and_leaves_no_temporary(tmp_path):
    from nas.checkpoint import atomic_write_bytes
    from nas.errors import RunStoreError

    with pytest.raises(RunStoreError, match="trials.parquet"):  # its folder vanished (unmounted)
        atomic_write_bytes(tmp_path / "gone" / "trials.parquet", b"x")
    (tmp_path / "manifest.json").mkdir()  # the rename fails after the temporary was written
    with pytest.raises(RunStoreError, match="manifest.json"):
        atomic_write_bytes(tmp_path / "manifest.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]  # no temporary left


@pytest.fixture
def finished_run(tmp_path):
    assert main(["search", "--config", _config(tmp_path, budget=4), "--quiet"]) == 0
    return _only_run(tmp_path)


@pytest.mark.parametrize("name", ["trials.parquet", "supernet.safetensors"])
def test_a_corrupt_file_is_named_and_runs_show_still_works(finished_run, name, capsys):
    runs = str(finished_run.parent)
    (finished_run / name).write_bytes(b"\x00garbage\x01")
    capsys.readouterr()
    assert main(["runs", "show", finished_run.name, "--runs-dir", runs]) == 0
    shown = capsys.readouterr().out
    assert finished_run.name in shown
    RunStore(finished_run).update_manifest(status="stopped")  # as if it had been interrupted
    code = main(["resume", finished_run.name, "--runs-dir", runs, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and name in err[0]  # refused, the file named, nothing redone
    if name == "trials.parquet":
        assert main(["front", finished_run.name, "--runs-dir", runs]) == 2
        assert name in capsys.readouterr().err


def test_two_drivers_on_one_run_are_refused_not_interleaved(finished_run):
    runs = str(finished_run.parent)
    store = RunStore(finished_run)
    store.update_manifest(status="stopped")  # resumable, so a second driver would write to it
    before = store.trials()
    store.lock()  # a live driver holds the run
    try:
        proc = subprocess.run([sys.executable, "-m", "nas", "resume", finished_run.name, "--runs-dir", runs, "--quiet"],
                              capture_output=True, text=True, timeout=120)
    finally:
        store.unlock()
    assert proc.returncode == 2 and "must have one writer" in proc.stderr
    pd.testing.assert_frame_equal(RunStore(finished_run).trials(), before)
