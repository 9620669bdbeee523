"""The latency model of a device: layer-table sum plus a learned correction, with an uncertainty.

``predict`` runs the subnet once with hooks (:func:`~nas.profiling.lut.layer_units`), sums the
table times of its unit calls, builds structural features and applies the correction::

    features = [lut_ms, units, untimed, macs (M), params (k), activations (k elements)]
    mean     = intercept + coef · standardise(features)         (ridge, relative-error weights)
    std      = rel_rmse_oof · mean

The default correction (``method="rel_ridge"``) is a ridge regression weighted by ``1 / y²`` (so
it minimises squared *relative* error), its penalty chosen by leave-one-out error on the
end-to-end measured subnets; its out-of-fold relative RMSE becomes the predicted standard
deviation. Any latency predictor registered in :mod:`predictors` (``method="lut_correction"``:
LUT sum plus a learned residual) can be used instead; it is refit from the stored training rows
when a model is loaded. The correction absorbs what a sum of isolated layers misses: per-call
overheads (an ONNX Runtime session per layer), fusion and cache effects, work outside units.
Everything is plain JSON (no pickles): the training rows are stored with the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from nas.profiling.cost import count_macs, count_params
from nas.profiling.lut import LayerTable, Unit, layer_units

__all__ = ["FEATURES", "Correction", "LatencyModel", "subnet_features", "regression_figures"]

FEATURES = ("lut_ms", "units", "untimed", "macs_m", "params_k", "act_k")
ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
METHODS = ("rel_ridge", "lut_correction")


def subnet_features(module: nn.Module, input_shape: tuple[int, ...], table: LayerTable,
                    batch_size: int = 1) -> tuple[np.ndarray, list[Unit], dict[str, nn.Module], int]:
    """Features of one static subnet (see :data:`FEATURES`).

    Returns:
        The feature vector, the unit calls, their modules, and the number of unit calls whose key
        is not in ``table`` (they count 0 in ``lut_ms``).
    """
    calls, modules = layer_units(module, input_shape, batch_size)
    lut_ms, absent = table.compose(calls)
    feats = np.array([
        lut_ms,
        sum(1 for u in calls if u.timeable),
        sum(1 for u in calls if not u.timeable),
        batch_size * count_macs(module, input_shape) / 1e6,
        count_params(module) / 1e3,
        sum(u.out_numel for u in calls) / 1e3,
    ], dtype=float)
    return feats, calls, modules, absent


def regression_figures(measured: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """Share within ±10%, Spearman, MAPE (fraction) and Kendall tau of predictions."""
    from scipy import stats

    y, p = np.asarray(measured, float), np.asarray(predicted, float)
    if len(y) < 2:
        return {"n": float(len(y)), "within_10": float(np.mean(np.abs(p - y) <= 0.1 * np.abs(y))) if len(y) else 0.0,
                "spearman": 0.0, "kendall_tau": 0.0, "mape": float(np.mean(np.abs(p - y) / np.abs(y))) if len(y) else 0.0}
    rho = stats.spearmanr(y, p).statistic if np.ptp(y) > 0 and np.ptp(p) > 0 else 0.0
    tau = stats.kendalltau(y, p).statistic if np.ptp(y) > 0 and np.ptp(p) > 0 else 0.0
    return {"n": float(len(y)), "within_10": float(np.mean(np.abs(p - y) <= 0.1 * np.abs(y) + 1e-12)),
            "spearman": float(rho), "kendall_tau": float(tau), "mape": float(np.mean(np.abs(p - y) / np.abs(y)))}


def _ridge(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Weighted ridge on standardised X (intercept unpenalised)."""
    A = np.hstack([np.ones((len(X), 1)), X])
    W = w[:, None]
    reg = alpha * np.eye(A.shape[1])
    reg[0, 0] = 0.0
    beta = np.linalg.solve(A.T @ (W * A) + reg, A.T @ (w * y))
    return beta[1:], float(beta[0])


@dataclass
class Correction:
    """The learned correction over :data:`FEATURES` (plain data, JSON-ready).

    Attributes:
        method: ``rel_ridge`` (built in) or ``lut_correction`` (:mod:`predictors`, residual mode).
        x_train: Features of the end-to-end measured subnets it was fit on.
        y_train: Their measured latency (ms).
        oof: Leave-one-out predictions on the training subnets (``rel_ridge``).
        rel_std: Relative standard deviation of the prediction (``rel_ridge``).
    """

    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0
    alpha: float = 1.0
    rel_std: float = 0.1
    oof: list[float] = field(default_factory=list)
    method: str = "rel_ridge"
    x_train: list[list[float]] = field(default_factory=list)
    y_train: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"`correction.method` must be one of {list(METHODS)}, got {self.method!r}")
        self._inner: Any = None

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, method: str = "rel_ridge") -> Correction:
        """Fits on ``n`` subnets' features and measured latency (alpha by leave-one-out)."""
        X, y = np.asarray(X, float), np.asarray(y, float)
        mu, sd = X.mean(0), X.std(0)
        sd[sd < 1e-12] = 1.0
        Z = (X - mu) / sd
        w = 1.0 / np.maximum(y, 1e-9) ** 2
        best: tuple[float, float, np.ndarray] | None = None
        for alpha in ALPHAS:
            oof = np.empty(len(y))
            for i in range(len(y)):  # leave-one-out; n is tens of subnets
                keep = np.arange(len(y)) != i
                c, b = _ridge(Z[keep], y[keep], w[keep], alpha)
                oof[i] = b + Z[i] @ c
            err = float(np.sqrt(np.mean(((oof - y) / y) ** 2)))
            if best is None or err < best[0]:
                best = (err, alpha, oof)
        if best is None:  # ALPHAS is non-empty; kept for type checkers
            raise ValueError("`ALPHAS` must not be empty")
        coef, intercept = _ridge(Z, y, w, best[1])
        return cls(mu.tolist(), sd.tolist(), coef.tolist(), intercept, best[1], max(best[0], 1e-3), best[2].tolist(),
                   method, X.tolist(), y.tolist())

    def _predictor(self) -> Any:
        if self._inner is None:
            from predictors import make_predictor

            self._inner = make_predictor(self.method, seed=0, mode="residual").fit(
                np.asarray(self.x_train, float), np.asarray(self.y_train, float))
        return self._inner

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (ms) for rows of features."""
        X = np.atleast_2d(np.asarray(X, float))
        if self.method != "rel_ridge":
            mean, std = self._predictor().predict(X)
            return np.maximum(np.asarray(mean, float), 1e-6), np.asarray(std, float)
        Z = (X - np.asarray(self.mean)) / np.asarray(self.scale)
        mean = np.maximum(self.intercept + Z @ np.asarray(self.coef), 1e-6)
        return mean, self.rel_std * mean

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the fitted inner predictor is rebuilt from the training rows)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class LatencyModel:
    """A device's layer table and correction, for one space and input shape.

    Args:
        table: The per-layer table.
        correction: The fitted correction.
        input_shape: Shape of one input (no batch).
        batch_size: Batch of the timed input.
        meta: Provenance: device, fingerprint and its id, space, protocol, node, figures.
    """

    def __init__(self, table: LayerTable, correction: Correction, input_shape: tuple[int, ...], batch_size: int,
                 meta: dict[str, Any]) -> None:
        self.table, self.correction = table, correction
        self.input_shape, self.batch_size = tuple(input_shape), batch_size
        self.meta = meta

    def features(self, module: nn.Module) -> tuple[np.ndarray, list[Unit], dict[str, nn.Module], int]:
        """See :func:`subnet_features`."""
        return subnet_features(module, self.input_shape, self.table, self.batch_size)

    def predict(self, module: nn.Module) -> tuple[float, float]:
        """Predicted mean and std (ms) of ``module`` (unknown units count 0: fill the table first)."""
        feats = self.features(module)[0]
        mean, std = self.correction.predict(feats[None])
        return float(mean[0]), float(std[0])

    def recalibrated(self, modules: Sequence[nn.Module], measured_ms: Sequence[float]) -> LatencyModel:
        """A copy whose correction is refit on fresh end-to-end timings of ``modules`` (same table).

        Cheap (no layer is re-timed): use it when the device's conditions changed since the
        model was built (clock, thermal state, load), timing the refit subnets in the same
        interleaved pass as the subnets to be compared.
        """
        X = np.stack([self.features(m)[0] for m in modules])
        corr = Correction.fit(X, np.asarray(measured_ms, float), self.correction.method)
        return LatencyModel(self.table, corr, self.input_shape, self.batch_size, dict(self.meta))

    def to_dict(self) -> dict[str, Any]:
        """The model without its table (the table is stored beside it)."""
        return {"format": 1, "meta": self.meta, "input_shape": list(self.input_shape), "batch_size": self.batch_size,
                "features": list(FEATURES), "correction": self.correction.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], table: LayerTable) -> LatencyModel:
        """Inverse of :meth:`to_dict` (raises KeyError/TypeError/ValueError on malformed data)."""
        if list(data["features"]) != list(FEATURES):
            raise ValueError(f"features {data['features']} differ from {list(FEATURES)}")
        corr = Correction(**data["correction"])
        if not (len(corr.coef) == len(corr.mean) == len(corr.scale) == len(FEATURES)):
            raise ValueError("correction has the wrong number of coefficients")
        return cls(table, corr, tuple(int(v) for v in data["input_shape"]), int(data["batch_size"]), dict(data["meta"]))
