"""Behaviour specific to single predictors, and one quality check on the NB201 table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from predictors import (
    GBMPredictor,
    LutCorrectionPredictor,
    MLPEnsemblePredictor,
    NB201Encoder,
    RidgePredictor,
    kendall_tau,
    make_predictor,
    mape,
)
from predictors.ranking import pairwise_logistic_loss
from predictors.trees import HAS_XGBOOST


def test_linear_std_is_the_constant_cv_residual_spread(synthetic) -> None:
    X, y = synthetic("accuracy", 100, seed=4)
    _, std = RidgePredictor().fit(X, y).predict(X[:10])
    assert np.all(std == std[0])
    assert 0.3 < std[0] < 1.0  # the target's noise is 0.5


def test_mlp_ensemble_is_less_sure_far_from_the_data(synthetic) -> None:
    X, y = synthetic("accuracy", 100, seed=5)
    model = MLPEnsemblePredictor(seed=0).fit(X, y)
    _, near = model.predict(X)
    _, far = model.predict(X * 6.0)
    assert far.mean() > 3 * near.mean()


def test_different_seeds_give_different_members(synthetic) -> None:
    X, y = synthetic("accuracy", 60, seed=6)
    a, _ = make_predictor("mlp_ensemble", seed=0).fit(X, y).predict(X)
    b, _ = make_predictor("mlp_ensemble", seed=1).fit(X, y).predict(X)
    assert not np.allclose(a, b)


def test_pairwise_logistic_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    target = torch.arange(8.0).unsqueeze(0)
    right = pairwise_logistic_loss(10 * target, target, gen)
    wrong = pairwise_logistic_loss(-10 * target, target, gen)
    assert right.item() < 1e-3 and wrong.item() > 5.0
    assert pairwise_logistic_loss(target, torch.zeros(1, 8), gen).item() == 0.0  # all ties


def test_ranking_mlp_stays_on_the_target_scale(synthetic) -> None:
    X, y = synthetic("accuracy", 200, seed=7)
    mean, _ = make_predictor("ranking_mlp", seed=0).fit(X[:100], y[:100]).predict(X[100:])
    assert mape(y[100:], mean) < 0.1  # targets are around 50 with spread ~6


@pytest.mark.parametrize("backend", ["sklearn", "xgboost"])
def test_gbm_backends(synthetic, backend: str) -> None:
    if backend == "xgboost" and not HAS_XGBOOST:
        pytest.skip("xgboost not installed")
    X, y = synthetic("accuracy", 200, seed=8)
    model = GBMPredictor(seed=0, backend=backend, n_estimators=100).fit(X[:100], y[:100])
    mean, std = model.predict(X[100:])
    assert kendall_tau(y[100:], mean) > 0.6 and np.all(std > 0)
    single = GBMPredictor(seed=0, backend=backend, n_bags=1, n_estimators=50).fit(X, y)
    assert np.all(single.predict(X)[1] == 0)


@pytest.mark.parametrize(("mode", "model"), [("ratio", "ridge"), ("residual", "ridge"), ("ratio", "gbm")])
def test_lut_correction_learns_the_correction(synthetic, mode: str, model: str) -> None:
    X, y = synthetic("latency", 300, seed=9)
    pred = LutCorrectionPredictor(mode=mode, model=model).fit(X[:150], y[:150])
    mean, std = pred.predict(X[150:])
    lut_only = mape(y[150:], X[150:, 0])
    assert mape(y[150:], mean) < lut_only / 2
    if mode == "ratio":
        # the uncertainty scales with the LUT latency
        order = np.argsort(X[150:, 0])
        assert std[order[-10:]].mean() > std[order[:10]].mean()


def test_lut_correction_checks_the_lut_column(synthetic) -> None:
    X, y = synthetic("latency", 20, seed=10)
    X[0, 0] = -1.0
    with pytest.raises(ValueError, match="must be positive"):
        LutCorrectionPredictor().fit(X, y)
    with pytest.raises(ValueError, match="`lut_col`"):
        LutCorrectionPredictor(lut_col=20).fit(np.abs(X), y)
    mean, _ = LutCorrectionPredictor(mode="residual", lut_col=-8).fit(X, y).predict(X)
    assert np.all(np.isfinite(mean))


def test_structural_features_help_on_nb201(nb201_table) -> None:
    """DESIGN §8: a forest on one-hot plus structural features ranks NB201 cells well."""
    X = NB201Encoder().encode(nb201_table["arch_str"].tolist())
    y = nb201_table["c10_valid_acc_200ep"].to_numpy()
    perm = np.random.default_rng(0).permutation(len(y))
    test, train = perm[:1000], perm[1000:1200]
    full = make_predictor("random_forest", seed=0).fit(X[train], y[train])
    onehot = make_predictor("random_forest", seed=0).fit(X[train][:, :30], y[train])
    tau_full = kendall_tau(y[test], full.predict(X[test])[0])
    tau_onehot = kendall_tau(y[test], onehot.predict(X[test][:, :30])[0])
    assert tau_full > 0.65
    assert tau_full > tau_onehot + 0.1
