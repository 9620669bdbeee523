"""The ranking benchmark's architecture samples: uniform and stratified over the bottleneck width."""

from __future__ import annotations

import json

import pytest

from benchmarks.ranking_sample import bottleneck_width, sample_for, sample_stratified, strata_counts
from nas.cli import main
from nas.errors import ConfigError
from search_spaces.cnn1d import build_cnn1d_space
from tests.spaces.test_ranking_bench import TINY


def test_bottleneck_sample_takes_an_equal_share_of_each_width_stratum():
    space = build_cnn1d_space(widths=(2, 4, 8), depths=(1, 2))
    archs = sample_for("bottleneck", space, 9, seed=3)
    assert [bottleneck_width(a) for a in archs] == [2, 2, 2, 4, 4, 4, 8, 8, 8]
    assert len({a.arch_id for a in archs}) == 9
    assert [a.arch_id for a in sample_for("bottleneck", space, 9, seed=3)] == [a.arch_id for a in archs]
    assert [a.arch_id for a in sample_for("bottleneck", space, 9, seed=4)] != [a.arch_id for a in archs]
    # a uniform draw of this space is dominated by the width-2 stratum (19/27 of the width combinations)
    assert strata_counts(space, sample_for("uniform", space, 30, seed=3))["2"] > 10


def test_the_remainder_goes_to_the_narrowest_strata():
    space = build_cnn1d_space(widths=(2, 4, 8), depths=(1, 2))
    assert strata_counts(space, sample_for("bottleneck", space, 8, seed=0)) == {"2": 3, "4": 3, "8": 2}


def test_stratified_sample_errors_name_the_parameter_and_the_shortfall():
    space = build_cnn1d_space(widths=(2, 4), kernels=(3,), depths=(1,))  # stratum 4 holds a single arch
    with pytest.raises(ConfigError, match=r"`n_archs` must fit the strata within .* \(short: \{4: '1/2'\}\), got 4"):
        sample_stratified(space, 4, 0, [2, 4], bottleneck_width)
    with pytest.raises(ConfigError, match="`n_archs` must be at least the 2 strata"):
        sample_for("bottleneck", space, 1, seed=0)
    with pytest.raises(ConfigError, match=r"`sample` must be one of \['uniform', 'bottleneck', 'last-width'\], got 'sorted'"):
        sample_for("sorted", space, 4, seed=0)


def test_bottleneck_sample_needs_width_choices():
    from search_spaces.tinylm import build_tinylm_space

    space = build_tinylm_space()
    assert strata_counts(space, sample_for("uniform", space, 5, seed=0)) is None
    with pytest.raises(ConfigError, match="`sample` must be 'uniform' for a space without `\\*.width` choices"):
        sample_for("bottleneck", space, 5, seed=0)


def test_bench_ranking_records_the_stratified_sample(tmp_path):
    out = tmp_path / "strat.json"
    assert main(["bench", "ranking", *TINY, "--sample", "bottleneck", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["sample"] == "bottleneck" and r["recipe"]["sample"] == "bottleneck"
    assert r["sample_strata_bottleneck_width"] == {"2": 3, "4": 2}
    assert r["standalone_key"]["sample"] == "bottleneck" and len(r["archs"]) == 5


def test_last_width_sample_stratifies_over_the_last_stage_width():
    from benchmarks.ranking_sample import last_width
    from search_spaces.mbconv import build_mbconv_space

    space = build_mbconv_space((1, 2, 4, 8))
    archs = sample_for("last-width", space, 10, seed=0)
    assert [last_width(a) for a in archs] == [1, 1, 1, 2, 2, 2, 4, 4, 8, 8]
    assert [last_width(a) for a in archs] == [int(a["s3.width"]) for a in archs]
    assert strata_counts(space, archs, "last-width") == {"1": 3, "2": 3, "4": 2, "8": 2}
    assert len({a.arch_id for a in archs}) == 10


def test_within_strata_separates_the_order_inside_each_stratum():
    import numpy as np

    from benchmarks.ranking_sample import within_strata

    # two strata far apart; inside stratum "a" the supernet reverses the order, inside "b" it keeps it
    standalone = np.array([[10.0, 11.0, 12.0, 90.0, 91.0, 92.0], [10.5, 11.5, 12.5, 90.5, 91.5, 92.5]])
    supernet = {"seed0": [3.0, 2.0, 1.0, 7.0, 8.0, 9.0]}
    got = within_strata(standalone, supernet, ["a", "a", "a", "b", "b", "b"])
    assert got["a"]["kendall_tau"]["mean"] == -1.0 and got["b"]["kendall_tau"]["mean"] == 1.0
    assert got["a"]["noise_ceiling_tau"] == 1.0 and got["a"]["n"] == 3
    assert got["b"]["range"] == [90.25, 92.25]
