"""Contract suite, parametrised over every registered predictor (DESIGN §7.10-11)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from predictors import PREDICTORS, Predictor, kendall_tau, make_predictor, register_predictor

NAMES = PREDICTORS.names()


def test_registry_holds_the_promised_predictors() -> None:
    assert {"ridge", "svr", "mlp_ensemble", "gbm", "random_forest", "extra_trees",
            "ranking_mlp", "lut_correction"} <= set(NAMES)
    for name in NAMES:
        assert PREDICTORS[name].name == name
        assert PREDICTORS[name].kind in {"accuracy", "latency"}


@pytest.fixture(scope="module", params=NAMES)
def fitted(synthetic, request) -> tuple[str, Predictor, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each predictor fitted once at n=100, with held-out data of the same kind."""
    name = request.param
    kind = PREDICTORS[name].kind
    X, y = synthetic(kind, 300, seed=1)
    model = make_predictor(name, seed=0)
    assert model.fit(X[:100], y[:100]) is model
    return name, model, X[:100], y[:100], X[100:], y[100:]


def test_predict_shapes_and_std(fitted) -> None:
    _, model, _, _, X_test, _ = fitted
    mean, std = model.predict(X_test)
    assert mean.shape == std.shape == (len(X_test),)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    assert np.all(std >= 0)
    empty_mean, empty_std = model.predict(X_test[:0])
    assert empty_mean.shape == empty_std.shape == (0,)


def test_learnable_target_ranks_well(fitted) -> None:
    name, model, _, _, X_test, y_test = fitted
    mean, _ = model.predict(X_test)
    assert kendall_tau(y_test, mean) > 0.6, name


def test_score_reports_four_metrics(fitted) -> None:
    _, model, _, _, X_test, y_test = fitted
    rep = model.score(X_test, y_test)
    assert set(rep) == {"kendall_tau", "spearman", "mape", "within_10"}
    assert rep["kendall_tau"] > 0.6 and rep["spearman"] > rep["kendall_tau"]
    assert 0 <= rep["within_10"] <= 1 and rep["mape"] < 0.25


def test_predict_checks_width_and_values(fitted) -> None:
    _, model, _, _, X_test, _ = fitted
    with pytest.raises(ValueError, match="columns"):
        model.predict(X_test[:, :-1])
    bad = X_test[:3].copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        model.predict(bad)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_predictions_and_global_rng_untouched(synthetic, name: str) -> None:
    X, y = synthetic(PREDICTORS[name].kind, 120, seed=2)
    np_state, py_state, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()
    threads = torch.get_num_threads()
    a = make_predictor(name, seed=7).fit(X[:80], y[:80]).predict(X[80:])
    b = make_predictor(name, seed=7).fit(X[:80], y[:80]).predict(X[80:])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # DESIGN §7.4: predictors own their generators; global state is left as it was
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("name", NAMES)
def test_fit_validation_and_unfitted(name: str) -> None:
    model = make_predictor(name)
    with pytest.raises(RuntimeError, match="fitted"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="`y`"):
        model.fit(np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match="`X`"):
        model.fit(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="at least 2"):
        model.fit(np.ones((1, 3)), np.ones(1))


@pytest.mark.parametrize("name", NAMES)
def test_tiny_training_set(synthetic, name: str) -> None:
    X, y = synthetic(PREDICTORS[name].kind, 6, seed=3)
    mean, std = make_predictor(name, seed=0).fit(X[:3], y[:3]).predict(X[3:])
    assert mean.shape == (3,) and np.all(np.isfinite(mean)) and np.all(std >= 0)


def test_make_predictor_errors() -> None:
    with pytest.raises(ValueError, match=r"`predictor` must be one of \[.*ridge.*\], got 'x'"):
        make_predictor("x")
    with pytest.raises(ValueError, match="already registered"):
        register_predictor("ridge")(type("Dup", (PREDICTORS["ridge"],), {}))
    with pytest.raises(TypeError, match="Predictor subclass"):
        register_predictor("not_a_predictor")(int)
    assert "not_a_predictor" not in PREDICTORS


@pytest.mark.parametrize(
    ("name", "settings", "match"),
    [
        ("mlp_ensemble", {"n_members": 0}, "`n_members` must be positive, got 0"),
        ("mlp_ensemble", {"lr": 0.0}, "`lr`"),
        ("ranking_mlp", {"mse_weight": -1.0}, "`mse_weight`"),
        ("gbm", {"backend": "lightgbm"}, "`backend`"),
        ("random_forest", {"n_estimators": 1}, "`n_estimators`"),
        ("ridge", {"alphas": [0.0]}, "`alphas`"),
        ("svr", {"cv": 1}, "`cv`"),
        ("lut_correction", {"mode": "log"}, "`mode`"),
    ],
)
def test_settings_are_validated(name: str, settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_predictor(name, **settings)
