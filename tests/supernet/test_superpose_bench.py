"""The superposition benchmark harness runs and its superposed ops match the explicit mixtures."""

from __future__ import annotations

import json

from benchmarks import BENCHMARKS


def test_harness_writes_exact_comparisons(tmp_path):
    import importlib

    harness = importlib.import_module(BENCHMARKS["superpose"])
    out = tmp_path / "sp.json"
    payload = harness.run(repeats=1, warmup=0, out=str(out))
    assert json.loads(out.read_text()) == payload
    assert set(payload["ops"]) == {"conv2d_out_x_kernel", "linear_in_x_out", "attention_heads", "attention_heads_x_embed"}
    for op in payload["ops"].values():
        assert op["max_abs_diff"] < 1e-4
        assert op["superposed_ms"] > 0 and op["explicit_mixture_ms"] > 0
