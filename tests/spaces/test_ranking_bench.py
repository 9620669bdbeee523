"""The ranking-fidelity benchmark: its metrics, its scatter data, and a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from benchmarks.ranking import fidelity, resize_task, sample_archs
from benchmarks.ranking_plot import _scatter_info
from nas.cli import main
from nas.errors import ConfigError
from search_spaces.cnn1d import build_cnn1d_space


def test_fidelity_metrics_against_known_rankings():
    sa = np.array([np.arange(10.0) * 3, np.arange(10.0) * 3 + np.array([0, 5, 0, 0, 0, 0, 0, 0, 0, 0])])
    mean = sa.mean(axis=0)
    sn = {"same": list(mean + 1), "reversed": list(-mean)}
    fid = fidelity(sa, sn, macs=list(mean), params=list(-mean))
    assert fid["per_supernet_seed"]["same"]["kendall_tau"] == pytest.approx(1.0)
    assert fid["per_supernet_seed"]["same"]["top5_regret"] == 0.0
    assert fid["per_supernet_seed"]["reversed"]["kendall_tau"] == pytest.approx(-1.0)
    assert fid["per_supernet_seed"]["reversed"]["top5_regret"] == pytest.approx(mean.max() - mean[4])
    assert fid["summary"]["kendall_tau"] == {"mean": pytest.approx(0.0), "std": pytest.approx(1.0)}
    assert fid["noise_ceiling_tau"] == pytest.approx(stats.kendalltau(sa[0], sa[1]).statistic) and fid["noise_ceiling_tau"] < 1
    assert fid["proxies"]["macs"]["kendall_tau"] == pytest.approx(1.0)
    assert fid["proxies"]["params"]["kendall_tau"] == pytest.approx(-1.0)
    assert fid["standalone_spread_points"] == pytest.approx(mean.max() - mean.min())


def test_scatter_info_pairs_each_seed_with_the_standalone_means():
    info = _scatter_info("t", [50.0, 60.0], {"seed0": [40.0, 55.0], "seed1": [41.0, 39.0]}, ["a", "b"],
                         {"seed0": 1.0, "seed1": -1.0})
    assert [t.name for t in info.traces] == ["seed0", "seed1"]
    assert info.traces[1].x == (50.0, 60.0) and info.traces[1].y == (41.0, 39.0) and info.traces[1].tau == -1.0
    with pytest.raises(ValueError, match=r"`supernet\['s'\]` must have 2 accuracies, got 1"):
        _scatter_info("t", [50.0, 60.0], {"s": [1.0]}, ["a", "b"], {})


def test_resize_task_moves_training_samples_into_a_larger_validation_split(mnist1d_task):
    task = resize_task(mnist1d_task, train_samples=300, val_samples=700)
    assert len(task.train) == 300 and len(task.val) == 700
    assert np.array_equal(task.val.x[-len(mnist1d_task.val):], mnist1d_task.val.x)
    assert np.array_equal(task.val.x[0], mnist1d_task.train.x[len(mnist1d_task.train) - 200])
    with pytest.raises(ConfigError, match="train_samples/val_samples"):
        resize_task(mnist1d_task, train_samples=1000, val_samples=700)


def test_sample_is_seeded_distinct_and_bounded():
    space = build_cnn1d_space(widths=(2, 4), depths=(1, 2))
    a, b = sample_archs(space, 12, seed=5), sample_archs(space, 12, seed=5)
    assert [x.arch_id for x in a] == [x.arch_id for x in b] and len({x.arch_id for x in a}) == 12
    with pytest.raises(ConfigError, match="`n_archs` must be at most"):
        sample_archs(build_cnn1d_space(widths=(2,), kernels=(3,), depths=(1,)), 2, seed=0)


TINY = ["--n-archs", "5", "--seeds", "1", "--epochs", "1", "--supernet-epochs", "1", "--train-samples", "256",
        "--val-samples", "300", "--widths", "2,4", "--depths", "1,2", "--kernels", "3,5", "--calib-batches", "1"]


def test_bench_ranking_end_to_end_and_reuse(tmp_path, capsys):
    out = tmp_path / "ranking.json"
    assert main(["bench", "ranking", *TINY, "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert len(r["archs"]) == 5 and len(r["archs"][0]["standalone"]) == 2
    assert set(r["per_supernet_seed"]) == {"seed0"} and -1 <= r["summary"]["kendall_tau"]["mean"] <= 1
    assert r["recipe"]["val_samples"] == 300 and r["recipe"]["train_samples"] == 256
    assert all(0 <= a["supernet"]["seed0"] <= 100 and a["macs"] > 0 for a in r["archs"])
    assert "plotly" in out.with_suffix(".html").read_text()
    again = tmp_path / "again.json"
    assert main(["bench", "ranking", *TINY, "--bn-per-width", "true", "--reuse", str(out), "--out", str(again)]) == 0
    r2 = json.loads(again.read_text())
    assert [a["standalone"] for a in r2["archs"]] == [a["standalone"] for a in r["archs"]]
    assert r2["variant"]["bn_per_width"] is True and r2["standalone_reused_from"] == str(out)
    capsys.readouterr()
    assert main(["bench", "ranking", *TINY[:-2], "--epochs", "2", "--calib-batches", "1", "--reuse", str(out)]) == 2
    assert "must have the same stand-alone `epochs`, got 1 != 2" in capsys.readouterr().err


def test_bench_ranking_refuses_a_table_space(capsys):
    assert main(["bench", "ranking", "--space", "nb201"]) == 2
    assert "must be a trainable space" in capsys.readouterr().err


def test_bench_ranking_refuses_a_task_of_another_space(capsys):
    assert main(["bench", "ranking", "--task", "digits"]) == 2
    assert "`task` must be one of ['mnist1d'] for space `cnn1d`, got 'digits'" in capsys.readouterr().err


def test_reuse_adds_standalone_seeds_and_can_keep_the_supernets(tmp_path, capsys):
    first, more = tmp_path / "two.json", tmp_path / "three.json"
    assert main(["bench", "ranking", *TINY, "--out", str(first)]) == 0
    assert main(["bench", "ranking", *TINY, "--standalone-seeds", "3", "--reuse", str(first), "--reuse-supernet", str(first),
                 "--out", str(more)]) == 0
    r1, r2 = json.loads(first.read_text()), json.loads(more.read_text())
    assert r2["standalone_seeds_reused"] == 2 and r2["supernets_reused_from"] == str(first)
    assert [a["standalone"][:2] for a in r2["archs"]] == [a["standalone"] for a in r1["archs"]]
    assert all(len(a["standalone"]) == 3 for a in r2["archs"]) and len(r2["noise_ceiling_pairs"]) == 3
    assert [a["supernet"] for a in r2["archs"]] == [a["supernet"] for a in r1["archs"]]
    capsys.readouterr()
    assert main(["bench", "ranking", *TINY[:-2], "--calib-batches", "2", "--reuse-supernet", str(first)]) == 2
    assert "`reuse_supernet` file must have the same supernet `calib_batches`, got 1 != 2" in capsys.readouterr().err


def test_bench_ranking_mbconv_widths_with_a_last_width_sample(tmp_path):
    out = tmp_path / "mbconv.json"
    args = ["bench", "ranking", "--space", "mbconv", "--task", "digits", "--widths", "1,2", "--sample", "last-width",
            "--n-archs", "5", "--seeds", "1", "--epochs", "1", "--supernet-epochs", "1", "--train-samples", "128",
            "--val-samples", "200", "--calib-batches", "1", "--out", str(out)]
    assert main(args) == 0
    r = json.loads(out.read_text())
    assert r["sample_strata_last_width"] == {"1": 3, "2": 2} and r["variant"]["widths"] == [1, 2]
    assert [a["arch"]["s3.width"] for a in r["archs"]] == [1, 1, 1, 2, 2]
    strata = r["within_strata"]
    assert strata["stratified_by"] == "last-width" and [s["n"] for s in strata["strata"].values()] == [3, 2]
