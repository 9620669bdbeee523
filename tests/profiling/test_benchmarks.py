"""The latency benchmark harnesses run end to end on small settings and write their JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import BENCHMARKS


def test_latency_harnesses_are_registered():
    assert BENCHMARKS["latency"] == "benchmarks.latency"
    assert BENCHMARKS["latency-transfer"] == "benchmarks.latency_transfer"


def test_latency_benchmark_scores_unseen_subnets(tmp_path):
    from benchmarks.latency import run

    out = tmp_path / "latency.json"
    summary = run(space="cnn1d", device="cpu-torch", n=6, samples=5, val_samples=0, warmup=1, repeats=4, rounds=2,
                  lut_archs=4, saturation=2, build_warmup=1, build_repeats=4, cache=str(tmp_path / "cache"),
                  out=str(out))
    data = json.loads(out.read_text())
    assert summary["n"] == 6 and len(data["rows"]) == 6
    assert len({r["arch_id"] for r in data["rows"]}) == 6
    assert all(r["measured_ms"] > 0 and r["predicted_ms"] > 0 for r in data["rows"])
    for key in ("within_10", "spearman", "mape", "kendall_tau"):
        assert key in summary["model"] and key in summary["lut_only"]
    assert summary["target_met"] == (summary["model"]["within_10"] >= 0.95)


def test_transfer_benchmark_on_any_table_with_latency_columns(tmp_path):
    from benchmarks.latency_transfer import run

    rng = np.random.default_rng(0)
    base = rng.uniform(1, 10, size=200)
    frame = pd.DataFrame({"arch": [f"a{i}" for i in range(200)], "acc": rng.uniform(size=200),
                          "x_ms": base, "y_ms": 2 * base + 0.5, "z_ms": base ** 1.2})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    summary = run(table=str(path), ns=(5, 10), seeds=2, out=str(tmp_path / "o.json"))
    assert summary["devices"] == ["x", "y", "z"] and set(summary["mean_spearman"]) == {"5", "10"}
    assert summary["mean_spearman"]["10"] > 0.95  # monotone relations: ranks are recovered
    assert json.loads((tmp_path / "o.json").read_text())["per_device"]["y"]["10"]["spearman"] > 0.95
    from nas.errors import ConfigError

    with pytest.raises(ConfigError, match="--table"):
        run(table=str(tmp_path / "missing.csv"))
