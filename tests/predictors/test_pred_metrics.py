"""Predictor metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from predictors import kendall_tau, mape, regression_report, spearman, top_k_regret, within


def test_kendall_tau_hand_computed() -> None:
    # 6 pairs, one discordant (2 vs 3): (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_hand_computed() -> None:
    # sum d^2 = 2, rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [1, 4, 9]) == pytest.approx(1.0)


@pytest.mark.parametrize("fn", [kendall_tau, spearman])
def test_rank_correlations_of_constant_inputs_are_zero(fn) -> None:
    assert fn([1, 1, 1], [1, 2, 3]) == 0.0
    assert fn([1, 2, 3], [5, 5, 5]) == 0.0
    assert fn([1], [2]) == 0.0


def test_mape_is_a_fraction() -> None:
    assert mape([100, 200], [110, 180]) == pytest.approx(0.1)
    assert mape([-50], [-25]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-zero"):
        mape([0, 1], [1, 1])


def test_within_counts_relative_band_inclusive() -> None:
    assert within([100, 200, 50], [109, 221, 50]) == pytest.approx(2 / 3)
    assert within([100], [110]) == 1.0  # exactly 10% is inside
    assert within([100], [120], rel=0.25) == 1.0
    with pytest.raises(ValueError, match="`rel`"):
        within([1], [1], rel=-0.1)


def test_top_k_regret() -> None:
    y_true = [5, 9, 7, 1]
    y_pred = [0.9, 0.1, 0.8, 0.2]
    assert top_k_regret(y_true, y_pred, k=1) == 4.0  # picks 5, best is 9
    assert top_k_regret(y_true, y_pred, k=2) == 2.0  # picks 5 and 7
    assert top_k_regret(y_true, y_pred, k=10) == 0.0
    assert top_k_regret(y_true, y_pred, k=1, maximize=False) == 8.0  # picks 9, best is 1
    with pytest.raises(ValueError, match="`k`"):
        top_k_regret(y_true, y_pred, k=0)


def test_regression_report_has_all_four() -> None:
    rep = regression_report([100, 200, 300, 400], [110, 190, 300, 500])
    assert set(rep) == {"kendall_tau", "spearman", "mape", "within_10"}
    assert rep["kendall_tau"] == pytest.approx(1.0)
    assert rep["spearman"] == pytest.approx(1.0)
    assert rep["mape"] == pytest.approx((0.1 + 0.05 + 0 + 0.25) / 4)
    assert rep["within_10"] == pytest.approx(0.75)
    assert math.isnan(regression_report([0, 1], [0, 1])["mape"])


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="length"):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        spearman([1, np.nan], [1, 2])
