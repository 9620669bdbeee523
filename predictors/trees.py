"""Tree ensembles: gradient-boosted trees (a bootstrap bag) and random forest / extra trees.

The gradient-boosted predictor uses xgboost's ``XGBRegressor`` (``n_jobs=1``) when xgboost is
importable and scikit-learn's ``HistGradientBoostingRegressor`` otherwise; its ``std`` is
the spread over a small bag of boosted models fitted on bootstrap resamples. The forests'
``std`` is the spread of the individual trees' predictions (DESIGN §8: a random forest drove
the NB201 prototype's search).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor

from predictors.base import Predictor, register_predictor

__all__ = [
    "ExtraTreesPredictor",
    "GBMPredictor",
    "HAS_XGBOOST",
    "RandomForestPredictor",
]

HAS_XGBOOST: bool = importlib.util.find_spec("xgboost") is not None
"""Whether xgboost can be imported (else GBMPredictor falls back to scikit-learn)."""

_BACKENDS = ("auto", "xgboost", "sklearn")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}")
    return int(value)


@register_predictor("gbm")
class GBMPredictor(Predictor):
    """Gradient-boosted trees, bagged for an uncertainty estimate.

    ``n_bags`` boosted models are fitted, each on a bootstrap resample (drawn from the
    predictor's own ``numpy`` generator) with its own model seed; ``mean`` and ``std`` are the
    mean and standard deviation over the bag. With ``n_bags=1`` the single model sees the full
    data and ``std`` is 0.

    Args:
        seed: Seed of the resamples and of the boosted models.
        n_bags: Number of bagged boosted models.
        n_estimators: Boosting rounds per model.
        max_depth: Tree depth.
        learning_rate: Shrinkage.
        backend: ``"auto"`` (xgboost if importable), ``"xgboost"`` or ``"sklearn"``.
    """

    def __init__(
        self,
        seed: int = 0,
        n_bags: int = 5,
        n_estimators: int = 200,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        backend: str = "auto",
    ) -> None:
        self.seed = _check_int("seed", seed, 0)
        self.n_bags = _check_int("n_bags", n_bags, 1)
        self.n_estimators = _check_int("n_estimators", n_estimators, 1)
        self.max_depth = _check_int("max_depth", max_depth, 1)
        if not (np.isfinite(learning_rate) and 0 < learning_rate <= 1):
            raise ValueError(f"`learning_rate` must be in (0, 1], got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        if backend not in _BACKENDS:
            raise ValueError(f"`backend` must be one of {list(_BACKENDS)}, got {backend!r}")
        if backend == "xgboost" and not HAS_XGBOOST:
            raise ValueError("`backend` must be 'auto' or 'sklearn' when xgboost is not installed, got 'xgboost'")
        self.backend = backend

    def _make(self, seed: int) -> Any:
        if self.backend == "xgboost" or (self.backend == "auto" and HAS_XGBOOST):
            from xgboost import XGBRegressor

            return XGBRegressor(
                n_estimators=self.n_estimators,
                max_depth=self.max_depth,
                learning_rate=self.learning_rate,
                subsample=0.8,
                colsample_bytree=0.8,
                min_child_weight=1.0,
                n_jobs=1,
                random_state=seed,
                tree_method="hist",
                verbosity=0,
            )
        return HistGradientBoostingRegressor(
            max_iter=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            min_samples_leaf=2,
            early_stopping=False,
            random_state=seed,
        )

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(self.seed)
        n = len(y)
        self.models_ = []
        for b in range(self.n_bags):
            rows = rng.integers(0, n, n) if self.n_bags > 1 else np.arange(n)
            model_seed = int(rng.integers(0, 2**31 - 1))
            self.models_.append(self._make(model_seed).fit(X[rows], y[rows]))

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = np.stack([np.asarray(m.predict(X), dtype=float) for m in self.models_])
        return preds.mean(axis=0), preds.std(axis=0)


class _ForestPredictor(Predictor):
    """Shared implementation of the forests; ``std`` is the spread over trees."""

    _forest: type[RandomForestRegressor] | type[ExtraTreesRegressor] = RandomForestRegressor

    def __init__(
        self,
        seed: int = 0,
        n_estimators: int = 200,
        min_samples_leaf: int = 1,
        max_features: float | str | None = 1.0,
    ) -> None:
        self.seed = _check_int("seed", seed, 0)
        self.n_estimators = _check_int("n_estimators", n_estimators, 2)
        self.min_samples_leaf = _check_int("min_samples_leaf", min_samples_leaf, 1)
        if isinstance(max_features, float) and not 0 < max_features <= 1:
            raise ValueError(f"`max_features` must be in (0, 1] when a float, got {max_features}")
        self.max_features = max_features

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self.model_ = self._forest(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            n_jobs=1,
            random_state=self.seed,
        ).fit(X, y)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # ``tree_.predict`` on float32 (what ``DecisionTreeRegressor.predict`` casts to) skips the
        # per-tree input validation that dominated scoring thousands of candidates per round.
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        per_tree = np.stack([t.tree_.predict(X32).reshape(len(X32), -1)[:, 0] for t in self.model_.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)


@register_predictor("random_forest")
class RandomForestPredictor(_ForestPredictor):
    """Random forest (bootstrap trees); ``mean``/``std`` over the trees' predictions.

    Args:
        seed: ``random_state`` of the forest.
        n_estimators: Number of trees (at least 2, so that a spread exists).
        min_samples_leaf: Minimum samples per leaf.
        max_features: Features considered per split (scikit-learn meaning).
    """

    _forest = RandomForestRegressor


@register_predictor("extra_trees")
class ExtraTreesPredictor(_ForestPredictor):
    """Extremely randomised trees; ``mean``/``std`` over the trees' predictions.

    Args:
        seed: ``random_state`` of the forest.
        n_estimators: Number of trees (at least 2).
        min_samples_leaf: Minimum samples per leaf.
        max_features: Features considered per split (scikit-learn meaning).
    """

    _forest = ExtraTreesRegressor
