"""The ensemble benchmark's front arithmetic: Pareto fronts, hypervolume, where one front is ahead."""

from __future__ import annotations

import pytest

from benchmarks.ensemble import dominance_intervals, hypervolume, pareto_front


def test_pareto_front_keeps_only_points_that_no_cheaper_point_beats() -> None:
    pts = [(50.0, 1.0), (40.0, 2.0), (70.0, 3.0), (60.0, 0.5), (70.0, 4.0)]
    assert pareto_front(pts) == [(60.0, 0.5), (70.0, 3.0)]


def test_hypervolume_is_the_dominated_staircase_area() -> None:
    front = [(60.0, 1.0), (80.0, 2.0)]
    # (60-50) * (2-1) + (80-50) * (4-2) = 10 + 60
    assert hypervolume(front, ref_acc=50.0, ref_lat=4.0) == pytest.approx(70.0)
    assert hypervolume([(40.0, 1.0)], ref_acc=50.0, ref_lat=4.0) == 0.0  # below the reference


def test_dominance_intervals_mark_where_the_ensemble_front_is_ahead() -> None:
    single = [(60.0, 1.0), (80.0, 3.0)]
    ens = [(55.0, 0.5), (70.0, 2.0), (78.0, 4.0)]
    # ahead alone below 1 ms, and from 2 to 3 ms (70 vs 60); behind from 3 ms on
    assert dominance_intervals(ens, single) == [[0.5, 1.0], [2.0, 3.0]]
    assert dominance_intervals(single, single) == []
