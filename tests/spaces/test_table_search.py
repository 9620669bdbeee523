"""``nas search`` end to end on table-backed spaces (local executor, lookups only)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nas.cli import main
from tests.spaces.conftest import write_table


def _run_dir(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def _dominated(a: dict, b: dict) -> bool:
    """Whether ``b`` dominates ``a`` (accuracy max, latency min)."""
    return (b["accuracy"] >= a["accuracy"] and b["latency_ms"] <= a["latency_ms"]
            and (b["accuracy"] > a["accuracy"] or b["latency_ms"] < a["latency_ms"]))


def test_search_on_a_generated_table_finds_a_true_front(tmp_path, tiny_config, capsys):
    csv = write_table(tmp_path / "grid.csv")
    code = main(["search", "--config", str(tiny_config), "--space", f"table:{csv}", "--budget", "16",
                 "--device", "server", "--strategy", "random", "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    run = _run_dir(tmp_path / "runs")
    payload = json.loads((run / "front.json").read_text())
    assert payload["evaluations"] == 16
    front = payload["front"]
    assert front
    truth = pd.read_csv(csv)
    for row in front:
        arch = json.loads(row["arch"])
        (match,) = truth[(truth.op == arch["op"]) & (truth.width == arch["width"]) & (truth.depth == arch["depth"])].index
        assert row["accuracy"] == truth.loc[match, "val_acc_top1"]
        assert row["latency_ms"] == truth.loc[match, "server_ms"]  # the chosen device's column
    assert not any(_dominated(a, b) for a in front for b in front)


def test_unknown_device_for_a_table_exits_2_naming_the_devices(tmp_path, tiny_config, capsys):
    csv = write_table(tmp_path / "grid.csv")
    code = main(["search", "--config", str(tiny_config), "--space", f"table:{csv}", "--device", "tpu"])
    err = capsys.readouterr().err
    assert code == 2 and "`device` must be one of ['cpu', 'edge', 'server']" in err and "tpu" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_missing_table_file_exits_2_naming_the_file(tmp_path, tiny_config, capsys):
    code = main(["search", "--config", str(tiny_config), "--space", f"table:{tmp_path / 'gone.csv'}"])
    err = capsys.readouterr().err
    assert code == 2 and "gone.csv" in err and "not found" in err
