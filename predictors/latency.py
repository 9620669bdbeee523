"""Latency predictor: a lookup-table (LUT) sum corrected by a learned model.

A per-layer LUT gives a first latency estimate by summing the layers' measured times; it
misses fusion, caching and launch overheads. :class:`LutCorrectionPredictor` takes that sum as
one column of ``X`` (beside any structural features) and learns the correction from
end-to-end measurements. It knows nothing about spaces or devices: the profiler builds ``X``.
"""

from __future__ import annotations

import numpy as np

from predictors.base import Predictor, register_predictor
from predictors.linear import RidgePredictor
from predictors.trees import GBMPredictor

__all__ = ["LutCorrectionPredictor"]

_MODES = ("ratio", "residual")
_MODELS = ("ridge", "gbm")


@register_predictor("lut_correction")
class LutCorrectionPredictor(Predictor):
    """LUT sum times (or plus) a learned correction of the structural features.

    With ``mode="ratio"`` the target of the correction model is ``y / lut`` and the prediction
    is ``lut * ratio``: right when the LUT is off by a roughly constant factor that depends on
    the architecture (LUT entries must then be positive). With ``mode="residual"`` the target
    is ``y - lut`` and the prediction ``lut + residual``. The correction model sees every
    column of ``X``, the LUT column included.

    ``std`` is the correction model's own ``std`` (for ``"ridge"``: the constant out-of-fold
    RMSE; for ``"gbm"``: the bag spread), multiplied by ``lut`` in ratio mode, so that it
    grows with the predicted latency.

    Args:
        seed: Seed of the correction model.
        lut_col: Index of the LUT-sum column in ``X`` (negative indices allowed).
        mode: ``"ratio"`` or ``"residual"``.
        model: Correction model, ``"ridge"`` (default) or ``"gbm"``.
    """

    kind = "latency"

    def __init__(self, seed: int = 0, lut_col: int = 0, mode: str = "ratio", model: str = "ridge") -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}")
        if isinstance(lut_col, bool) or not isinstance(lut_col, (int, np.integer)):
            raise ValueError(f"`lut_col` must be an integer column index, got {lut_col!r}")
        if mode not in _MODES:
            raise ValueError(f"`mode` must be one of {list(_MODES)}, got {mode!r}")
        if model not in _MODELS:
            raise ValueError(f"`model` must be one of {list(_MODELS)}, got {model!r}")
        self.seed = int(seed)
        self.lut_col = int(lut_col)
        self.mode = mode
        self.model = model

    def _lut(self, X: np.ndarray) -> np.ndarray:
        if not -X.shape[1] <= self.lut_col < X.shape[1]:
            raise ValueError(
                f"`lut_col` must index one of the {X.shape[1]} columns of `X`, got {self.lut_col}"
            )
        lut = X[:, self.lut_col]
        if self.mode == "ratio" and np.any(lut <= 0):
            raise ValueError(
                f"`X[:, {self.lut_col}]` (the LUT sum) must be positive in ratio mode, "
                f"got min {lut.min():g}"
            )
        return lut

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        lut = self._lut(X)
        target = y / lut if self.mode == "ratio" else y - lut
        inner: Predictor = (
            RidgePredictor(seed=self.seed) if self.model == "ridge" else GBMPredictor(seed=self.seed)
        )
        self.correction_ = inner.fit(X, target)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lut = self._lut(X)
        corr, corr_std = self.correction_.predict(X)
        if self.mode == "ratio":
            return lut * corr, lut * corr_std
        return lut + corr, corr_std
