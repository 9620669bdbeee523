"""The :class:`Predictor` base class, the predictor registry and :func:`make_predictor`.

A predictor is used in three steps::

    model = make_predictor("ridge", seed=0)   # __init__ only stores settings
    model.fit(X_train, y_train)               # returns the predictor itself
    mean, std = model.predict(X_test)         # two 1-D arrays of length len(X_test)

``std`` is the predictor's own uncertainty estimate (never negative); each implementation
documents where it comes from. :meth:`Predictor.score` reports the four metrics of
:mod:`predictors.metrics` on held-out data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np

from predictors._registry import Registry
from predictors.metrics import regression_report

__all__ = ["PREDICTORS", "Predictor", "make_predictor", "register_predictor"]

P = TypeVar("P", bound="type[Predictor]")

PREDICTORS: Registry[type[Predictor]] = Registry("predictor")
"""Registered predictor classes by name (see :func:`register_predictor`)."""


class Predictor(ABC):
    """Base class of accuracy and latency predictors (scikit-learn style).

    Call sequence: ``__init__`` stores settings and validates them; :meth:`fit` validates
    ``X``/``y`` (through :meth:`_check_xy`) and then calls :meth:`_fit`; :meth:`predict`
    checks that the predictor is fitted and that ``X`` has the fitted width, then calls
    :meth:`_predict`. Subclasses implement the two underscored hooks. Stochastic predictors
    take ``seed`` and draw only from generators they own.

    Attributes:
        name: Registry name, set by :func:`register_predictor`.
        kind: ``"accuracy"`` or ``"latency"``; harnesses pick predictors by it.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "accuracy"

    n_features_: int | None = None

    def fit(self, X: Any, y: Any) -> Predictor:
        """Fits the predictor.

        Args:
            X: Features, shape ``(n_samples, n_features)``, finite.
            y: Targets, shape ``(n_samples,)``, finite.

        Returns:
            The fitted predictor itself.

        Raises:
            ValueError: on wrong shapes, non-finite values or fewer than 2 samples.
        """
        X_arr, y_arr = self._check_xy(X, y)
        self._fit(X_arr, y_arr)
        self.n_features_ = X_arr.shape[1]
        return self

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicts targets with an uncertainty.

        Args:
            X: Features, shape ``(n_samples, n_features)`` with the fitted ``n_features``.

        Returns:
            ``(mean, std)``: two float arrays of shape ``(n_samples,)``; ``std >= 0``.

        Raises:
            RuntimeError: if called before :meth:`fit`.
            ValueError: if ``X`` has the wrong shape or non-finite values.
        """
        if self.n_features_ is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before predict")
        X_arr = self._check_x(X)
        if X_arr.shape[1] != self.n_features_:
            raise ValueError(
                f"`X` must have {self.n_features_} columns (as in fit), got {X_arr.shape[1]}"
            )
        if X_arr.shape[0] == 0:
            return np.zeros(0), np.zeros(0)
        mean, std = self._predict(X_arr)
        mean = np.asarray(mean, dtype=float).reshape(-1)
        std = np.maximum(np.nan_to_num(np.asarray(std, dtype=float).reshape(-1)), 0.0)
        if std.shape != mean.shape:
            std = np.broadcast_to(std, mean.shape).copy()
        return mean, std

    def score(self, X: Any, y: Any) -> dict[str, float]:
        """Reports Kendall tau, Spearman, MAPE and share within ±10% on ``(X, y)``.

        Returns:
            The dict of :func:`predictors.metrics.regression_report`.
        """
        mean, _ = self.predict(X)
        return regression_report(np.asarray(y, dtype=float).reshape(-1), mean)

    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fits on validated float arrays ``X`` (2-D) and ``y`` (1-D)."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(mean, std)`` for a validated, non-empty float array ``X``."""

    @staticmethod
    def _check_x(X: Any) -> np.ndarray:
        X_arr = np.asarray(X, dtype=float)
        if X_arr.ndim != 2:
            raise ValueError(f"`X` must be 2-D (n_samples, n_features), got shape {X_arr.shape}")
        if not np.all(np.isfinite(X_arr)):
            raise ValueError("`X` must be finite, got NaN or inf")
        return X_arr

    @classmethod
    def _check_xy(cls, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X_arr = cls._check_x(X)
        y_arr = np.asarray(y, dtype=float)
        if y_arr.ndim != 1:
            raise ValueError(f"`y` must be 1-D, got shape {y_arr.shape}")
        if len(y_arr) != len(X_arr):
            raise ValueError(
                f"`y` must have one value per row of `X` ({len(X_arr)}), got {len(y_arr)}"
            )
        if len(y_arr) < 2:
            raise ValueError(f"`X` must have at least 2 samples, got {len(y_arr)}")
        if not np.all(np.isfinite(y_arr)):
            raise ValueError("`y` must be finite, got NaN or inf")
        return X_arr, y_arr

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({settings})"


def register_predictor(name: str) -> Any:
    """Class decorator: registers a :class:`Predictor` subclass under ``name``.

    The class's constructor must accept ``seed`` (a non-negative int) and keyword settings
    with defaults, since :func:`make_predictor` calls ``cls(seed=seed, **settings)``.

    Raises:
        ValueError: if ``name`` is already registered.
        TypeError: if the decorated object is not a Predictor subclass.
    """

    def deco(cls: P) -> P:
        if not (isinstance(cls, type) and issubclass(cls, Predictor)):
            raise TypeError(f"`cls` must be a Predictor subclass, got {cls!r}")
        PREDICTORS.add(name, cls)
        cls.name = name
        return cls

    return deco


def make_predictor(name: str, seed: int = 0, **settings: Any) -> Predictor:
    """Builds a registered predictor.

    Args:
        name: A key of :data:`PREDICTORS`.
        seed: Seed of the predictor's own random generator.
        **settings: Passed to the predictor's constructor.

    Returns:
        An unfitted predictor.

    Raises:
        ValueError: if ``name`` is unknown, e.g.
            ``"`predictor` must be one of [...], got 'x'"``.
    """
    cls = PREDICTORS.get_or_raise(name)
    return cls(seed=seed, **settings)  # type: ignore[call-arg]
