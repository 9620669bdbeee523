"""Behaviour of the blend predictor: a mixture of registered predictors."""

from __future__ import annotations

import numpy as np
import pytest

from predictors import BlendPredictor, make_predictor


def _data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, X @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]) + 0.1 * rng.normal(size=n)


def test_blend_is_the_mixture_of_its_members():
    X, y = _data()
    blend = make_predictor("blend", seed=3, members=("ridge", "random_forest"),
                           settings={"random_forest": {"n_estimators": 16}}).fit(X, y)
    ridge = make_predictor("ridge", seed=3).fit(X, y).predict(X)
    forest = make_predictor("random_forest", seed=3, n_estimators=16).fit(X, y).predict(X)
    mean, std = blend.predict(X)
    np.testing.assert_allclose(mean, (ridge[0] + forest[0]) / 2)
    spread = ((ridge[0] - mean) ** 2 + (forest[0] - mean) ** 2) / 2
    np.testing.assert_allclose(std**2, (ridge[1] ** 2 + forest[1] ** 2) / 2 + spread)
    assert np.all(std >= np.minimum(ridge[1], forest[1]))


def test_default_blend_is_seeded_and_learns():
    X, y = _data(80)
    a = BlendPredictor(seed=1).fit(X[:60], y[:60]).predict(X[60:])
    b = BlendPredictor(seed=1).fit(X[:60], y[:60]).predict(X[60:])
    np.testing.assert_array_equal(a[0], b[0])
    assert np.corrcoef(a[0], y[60:])[0, 1] > 0.8


@pytest.mark.parametrize("kw, name", [({"members": ()}, "members"), ({"members": ("blend",)}, "members"),
                                      ({"members": ("nope",)}, "members"),
                                      ({"settings": {"svr": {}}}, "settings"), ({"seed": -1}, "seed")])
def test_bad_settings_name_the_parameter(kw, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        BlendPredictor(**kw)
