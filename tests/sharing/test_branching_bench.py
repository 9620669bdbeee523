"""The `nas bench branching` harness: its split score, and (slow) a tiny end-to-end run."""

from __future__ import annotations

import json

import pytest

from benchmarks.branching import adjusted_rand, run


def test_split_score_is_one_only_for_the_right_partition_under_any_labelling() -> None:
    truth = (0, 0, 1, 1)
    assert adjusted_rand((0, 0, 1, 1), truth) == 1.0
    assert adjusted_rand((1, 1, 0, 0), truth) == 1.0
    assert adjusted_rand((0, 0, 0, 0), truth) == 0.0  # no split at all
    assert adjusted_rand((0, 1, 2, 3), truth) == 0.0  # every task alone
    assert adjusted_rand((0, 1, 0, 1), truth) < 0.0  # the wrong pairing


@pytest.mark.slow
def test_tiny_benchmark_run_writes_consistent_json(tmp_path) -> None:
    out = tmp_path / "branching.json"
    res = run(affinity_seeds=2, tree_warmup=1, tree_epochs=1, train_seeds=1, train_epochs=1, warmup=2, repeats=5,
              out=str(out))
    assert json.loads(out.read_text())["affinity"]["separated"] == res["affinity"]["separated"]
    aff = res["affinity"]
    assert aff["separated"] == sum(r["ari"] == 1.0 for r in aff["per_seed"]) and len(aff["per_seed"]) == 2
    s = res["mnist1d_multi"]["summary"]
    assert s["all-shared"]["params"] <= s["learned"]["params"] <= s["all-separate"]["params"]
    assert s["all-shared"]["params"] < s["all-separate"]["params"]
    assert all(0 <= v["val_accuracy"] <= 100 and v["latency_ms"] > 0 for v in s.values())
