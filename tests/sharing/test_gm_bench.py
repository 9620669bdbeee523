"""The ``nas bench gm-split`` harness on tiny settings: variants, protocol and the ground-truth cache."""

from __future__ import annotations

import json

import pytest

from benchmarks.gm_split import run


@pytest.mark.slow
def test_harness_trains_every_variant_and_reuses_the_ground_truth(tmp_path):
    small = dict(epochs=2, split_epoch=1, seeds=1, standalone_epochs=1, train_samples=256, val_samples=128, gm_batches=1,
                 calib_batches=1, cnn1d=False, gm4=True, ground_truth=str(tmp_path / "gt.json"))
    first = run(**small, out=str(tmp_path / "out.json"))
    cell = first["cell1d"]
    assert cell["archs"] == 64 and cell["standalone_seeds_reused"] == 0
    runs = {v: rows[0] for v, rows in cell["runs"].items()}
    assert {v: r["subnets"] for v, r in runs.items()} == {"one_shot": 1, "exhaustive": 4, "gm": 2, "random_split": 2,
                                                                "gm4": 4}
    assert {v: r["subnet_epochs"] for v, r in runs.items()} == {"one_shot": 2, "exhaustive": 5, "gm": 3, "random_split": 3,
                                                                      "gm4": 5}
    assert all(len(s["groups"][0]) == 1 for s in runs["exhaustive"]["splits"])  # one sub-supernet per operation
    assert len(runs["gm4"]["splits"]) == 3  # two rounds: 1 -> 2 -> 4
    assert all(-1.0 <= cell["kendall_tau"][v]["mean"] <= 1.0 for v in runs)
    assert first["gain"] == pytest.approx(cell["kendall_tau"]["gm"]["mean"] - cell["kendall_tau"]["one_shot"]["mean"])
    assert json.loads((tmp_path / "out.json").read_text())["settings"]["epochs"] == 2
    second = run(**small)
    assert second["cell1d"]["standalone_seeds_reused"] == 2
    assert second["cell1d"]["standalone_mean"] == cell["standalone_mean"]
