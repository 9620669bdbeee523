"""The search-efficiency and loop-overhead harnesses on small settings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.predictors.conftest import NB201_CSV


@pytest.fixture(scope="module")
def renamed_table(tmp_path_factory):
    """The NB201 table with other column names: the harness must take any table of this shape."""
    if not NB201_CSV.exists():
        pytest.skip("bundled NB201 table missing")
    df = pd.read_csv(NB201_CSV).rename(columns={"arch_str": "cell", "c10_val_acc_12ep": "acc_short", "fpga_ms": "edge_tpu_ms"})
    path = tmp_path_factory.mktemp("table") / "cells.csv"
    df.to_csv(path, index=False)
    return path


def test_search_harness_reports_hv_ratios_per_device_and_strategy(renamed_table, tmp_path):
    from benchmarks.search_bench import curves_info, hv_ratios, load_problem, run, run_strategy
    from nas.search.pareto import hypervolume, pareto_mask

    out = tmp_path / "search.json"
    data = run(table=str(renamed_table), acc="acc_short", lat=("edge_tpu_ms",), evals=12, seeds=2,
               strategies=("nsga2", "random"), ks=(5, 12), arch_col="cell", out=str(out))
    assert json.loads(out.read_text()) == json.loads(json.dumps(data)) and data["complete"]
    assert (tmp_path / "search.html").read_text().count("plotly") > 0
    res = data["results"]["edge_tpu_ms"]
    for name in ("nsga2", "random"):
        per_seed = np.asarray(res[name]["per_seed"])
        assert per_seed.shape == (2, 2) and np.all((0 < per_seed) & (per_seed <= 1))
        assert np.all(np.diff(per_seed, axis=1) >= 0)  # the found front only grows
    # the figure for one seed, recomputed by hand
    problem = load_problem(str(renamed_table), "acc_short", ["edge_tpu_ms"], "cell")
    losses = run_strategy(problem, "edge_tpu_ms", "random", 1, 12)
    every = problem.losses("edge_tpu_ms")
    ref = np.array([100 - np.median(problem.accuracy), np.median(problem.latency["edge_tpu_ms"])])
    ratio = hypervolume(losses, ref) / hypervolume(every[pareto_mask(every)], ref)
    assert hv_ratios(losses, [12], ref, hypervolume(every[pareto_mask(every)], ref)) == [pytest.approx(ratio)]
    assert res["random"]["per_seed"][1][1] == pytest.approx(ratio)
    assert curves_info(data).curves["edge_tpu_ms"]["random"][0] == res["random"]["mean"]
    with pytest.raises(ValueError, match="`table` must have a column 'nope'"):
        load_problem(str(renamed_table), "nope", ["edge_tpu_ms"], "cell")


def test_search_harness_gives_the_same_figures_with_a_process_pool(renamed_table):
    from benchmarks.search_bench import run

    kw = dict(table=str(renamed_table), acc="acc_short", lat=("edge_tpu_ms",), evals=10, seeds=2,
              strategies=("random", "nsga2"), ks=(4, 10), arch_col="cell")
    alone, pooled = run(**kw), run(**kw, workers=2)
    for name in ("random", "nsga2"):
        assert pooled["results"]["edge_tpu_ms"][name]["per_seed"] == alone["results"]["edge_tpu_ms"][name]["per_seed"]
    with pytest.raises(ValueError, match="`workers` must be at least 1"):
        run(**kw, workers=0)


def test_search_harness_reuses_the_strategies_of_an_earlier_result(renamed_table, tmp_path):
    from benchmarks.search_bench import run

    kw = dict(table=str(renamed_table), acc="acc_short", lat=("edge_tpu_ms",), evals=8, seeds=1, ks=(4, 8), arch_col="cell")
    run(**kw, strategies=("random", "nsga2"), out=str(tmp_path / "base.json"))
    data = run(**kw, strategies=("nsga2",), reuse=str(tmp_path / "base.json"))
    base = json.loads((tmp_path / "base.json").read_text())["results"]["edge_tpu_ms"]
    assert data["strategies"] == ["nsga2", "random"] and data["reused"]["strategies"] == ["random"]
    assert data["results"]["edge_tpu_ms"]["random"] == base["random"]
    with pytest.raises(ValueError, match="`reuse` must be a complete result with the same settings"):
        run(**(kw | {"evals": 9, "ks": (4, 9)}), strategies=("nsga2",), reuse=str(tmp_path / "base.json"))


def test_overhead_harness_times_the_loop_on_sqlite(tmp_path):
    from benchmarks.overhead import run

    data = run(evals=12, strategies=("random",), out=str(tmp_path / "o.json"))
    r = data["results"]["random"]
    assert r["evaluations"] == 12 and r["wall_s"] > r["evaluation_s"] >= 0
    assert r["overhead_ms_per_eval"] > 0 and r["recording_ms_per_eval"] > 0
    assert json.loads((tmp_path / "o.json").read_text())["storage"] == "sqlite"


def test_overhead_harness_compares_with_an_earlier_measurement(tmp_path):
    from benchmarks.overhead import run

    (tmp_path / "b.json").write_text(json.dumps({"label": "old", "results": {"random": {"overhead_ms_per_eval": 100.0}}}))
    data = run(evals=10, strategies=("random",), before=str(tmp_path / "b.json"))
    now = data["results"]["random"]["overhead_ms_per_eval"]
    assert data["before"]["label"] == "old"
    assert data["before"]["overhead_ratio_before_over_now"]["random"] == pytest.approx(100.0 / now)
    with pytest.raises(ValueError, match="`before` must be a JSON file"):
        run(evals=10, strategies=("random",), before=str(tmp_path / "missing.json"))


def test_scale_harness_measures_the_loop_overhead_alone_when_no_workers_are_named(tmp_path):
    from benchmarks.scale import run

    data = run(workers="", evals=15, storages="sqlite", out=str(tmp_path / "s.json"))
    assert "throughput" not in data and "postgresql" not in data["overhead"]
    r = data["overhead"]["sqlite"]
    assert r["evaluations"] == 15 and r["overhead_ms_per_eval"] > 0
    with pytest.raises(ValueError, match="`storages` must name"):
        run(workers="", evals=5, storages="mysql")
