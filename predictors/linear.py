"""Linear and kernel baselines: ridge regression and SVR with cross-validated settings.

These are the baselines used by DyNAS-T. Both standardise the features; the uncertainty is
the cross-validated residual spread, a **constant** for every prediction: the root mean
squared error of out-of-fold predictions made with the selected hyperparameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from predictors.base import Predictor, register_predictor

__all__ = ["RidgePredictor", "SVRPredictor", "cv_residual_std", "make_folds"]

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))
DEFAULT_SVR_GRID: dict[str, list[Any]] = {
    "C": [0.1, 1.0, 10.0, 100.0],
    "gamma": ["scale", 0.01, 0.1],
    "epsilon": [0.01, 0.1],
}


def make_folds(n: int, max_folds: int, seed: int) -> KFold:
    """A shuffled ``KFold`` with ``min(max_folds, n)`` folds (at least 2)."""
    if max_folds < 2:
        raise ValueError(f"`cv` must be at least 2, got {max_folds}")
    return KFold(n_splits=max(2, min(max_folds, n)), shuffle=True, random_state=seed)


def cv_residual_std(estimator: RegressorMixin, X: np.ndarray, y: np.ndarray, folds: KFold) -> float:
    """Root mean squared error of out-of-fold predictions of ``estimator`` (a clone is fitted).

    Returns:
        A non-negative float; ``0.0`` if every out-of-fold prediction is exact.
    """
    oof = cross_val_predict(estimator, X, y, cv=folds)
    return float(np.sqrt(np.mean((oof - y) ** 2)))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}")
    return int(seed)


@register_predictor("ridge")
class RidgePredictor(Predictor):
    """Ridge regression on standardised features, alpha chosen by ``RidgeCV``.

    ``RidgeCV`` picks alpha by efficient leave-one-out over a log grid. ``std`` is constant:
    the RMSE of ``cv``-fold out-of-fold predictions with the chosen alpha.

    Args:
        seed: Seed of the fold shuffling used for the residual spread.
        alphas: Candidate regularisation strengths (all positive).
        cv: Folds for the residual spread, capped at the sample count.
    """

    def __init__(self, seed: int = 0, alphas: Sequence[float] = DEFAULT_ALPHAS, cv: int = 5) -> None:
        self.seed = _check_seed(seed)
        self.alphas = tuple(float(a) for a in alphas)
        if not self.alphas or min(self.alphas) <= 0:
            raise ValueError(f"`alphas` must be a non-empty list of positive numbers, got {alphas!r}")
        if cv < 2:
            raise ValueError(f"`cv` must be at least 2, got {cv}")
        self.cv = int(cv)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self.model_: Pipeline = make_pipeline(StandardScaler(), RidgeCV(alphas=self.alphas))
        self.model_.fit(X, y)
        self.alpha_ = float(self.model_[-1].alpha_)
        fixed = make_pipeline(StandardScaler(), Ridge(alpha=self.alpha_))
        self.residual_std_ = cv_residual_std(fixed, X, y, make_folds(len(y), self.cv, self.seed))

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self.model_.predict(X)
        return mean, np.full(len(mean), self.residual_std_)


@register_predictor("svr")
class SVRPredictor(Predictor):
    """RBF support-vector regression with ``C``/``gamma``/``epsilon`` chosen by grid search.

    Features and targets are standardised (so ``epsilon`` is in target standard deviations).
    ``GridSearchCV`` uses ``min(cv, n)`` shuffled folds and mean squared error. ``std`` is
    constant: the out-of-fold RMSE of the selected settings, in target units.

    Args:
        seed: Seed of the fold shuffling.
        param_grid: Grid over ``SVR`` parameters; a small default grid (24 settings).
        cv: Maximum number of folds.
    """

    def __init__(
        self, seed: int = 0, param_grid: Mapping[str, Sequence[Any]] | None = None, cv: int = 5
    ) -> None:
        self.seed = _check_seed(seed)
        grid = DEFAULT_SVR_GRID if param_grid is None else param_grid
        if not grid or any(len(v) == 0 for v in grid.values()):
            raise ValueError(f"`param_grid` must map names to non-empty lists, got {param_grid!r}")
        self.param_grid = {k: list(v) for k, v in grid.items()}
        if cv < 2:
            raise ValueError(f"`cv` must be at least 2, got {cv}")
        self.cv = int(cv)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) or 1.0
        z = (y - self.y_mean_) / self.y_scale_
        folds = make_folds(len(y), self.cv, self.seed)
        grid = {f"svr__{k}": v for k, v in self.param_grid.items()}
        pipe = Pipeline([("scale", StandardScaler()), ("svr", SVR(kernel="rbf"))])
        search = GridSearchCV(pipe, grid, cv=folds, scoring="neg_mean_squared_error", n_jobs=1)
        search.fit(X, z)
        self.best_params_ = {k.removeprefix("svr__"): v for k, v in search.best_params_.items()}
        self.model_ = search.best_estimator_
        best = Pipeline([("scale", StandardScaler()), ("svr", SVR(kernel="rbf", **self.best_params_))])
        self.residual_std_ = cv_residual_std(best, X, z, folds) * self.y_scale_

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self.model_.predict(X) * self.y_scale_ + self.y_mean_
        return mean, np.full(len(mean), self.residual_std_)
