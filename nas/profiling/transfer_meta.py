"""Meta-learned few-shot latency transfer: what the known devices teach about adapting to a new one.

:class:`FewShotTransfer` fits one ridge on the source devices' log latencies, its penalty chosen
by leave-one-out on the ``N`` target measurements. At ``N = 10`` that choice is noise, and one
model class cannot serve every device: a device whose cost follows the others' (a CPU like the
known CPUs) is best predicted from their latencies, one with its own cost profile (an FPGA) from
the architecture's structure. :class:`MetaTransfer` therefore

1. **meta-learns each candidate's penalty on the source devices only**: every source device in
   turn plays the new device, the remaining sources play the known ones, ``draws`` random sets of
   ``N`` rows are "measured", and the penalty with the lowest held-out error (summed over pseudo
   targets and draws, relative to the device's variance) is kept. The target's own column is
   never looked at beyond its ``N`` measured rows;
2. **fits the candidates on the target's ``N`` rows** with those penalties, all in log space:
   ``sources`` (log latencies on the known devices) and ``structure`` (the space's compact
   structural features, e.g. how often each operation occurs);
3. **averages them**, each weighted by the inverse of its closed-form leave-one-out error on the
   ``N`` rows (a device's rows pick the model class that explains them).

Its predictive spread combines the candidates' leave-one-out residual variance with their
disagreement; the mean in ms is the log-normal mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.errors import invalid
from nas.profiling.transfer import ALPHAS, _log

__all__ = ["MetaTransfer", "choice_counts", "ridge_fit", "loo_mse"]


def ridge_fit(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge weights and intercept (the intercept is not penalised)."""
    xm, ym = X.mean(0), float(y.mean())
    Xc = X - xm
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (y - ym))
    return w, ym - float(xm @ w)


def loo_mse(X: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """Closed-form leave-one-out mean squared error of :func:`ridge_fit`."""
    A = np.c_[np.ones(len(y)), X]
    penalty = alpha * np.eye(A.shape[1])
    penalty[0, 0] = 0.0
    hat = A @ np.linalg.solve(A.T @ A + penalty, A.T)
    resid = (y - hat @ y) / np.clip(1.0 - np.diag(hat), 1e-6, None)
    return float(np.mean(np.square(resid)))


def _designs(log_src: np.ndarray, features: np.ndarray | None) -> dict[str, np.ndarray]:
    out = {"sources": log_src}
    if features is not None:
        out["structure"] = features
    return out


@dataclass
class MetaTransfer:
    """Few-shot latency of a new device from known devices' latencies and structure.

    Args:
        seed: Seed of the pseudo-target draws of :meth:`meta_fit`.
        draws: Random row sets per pseudo-target device.
        eval_rows: Held-out rows scored per draw.
    """

    seed: int = 0
    draws: int = 6
    eval_rows: int = 2000
    alphas_: dict[str, float] = field(default_factory=dict, init=False)
    models_: dict[str, tuple[np.ndarray, float, float]] = field(default_factory=dict, init=False, repr=False)
    weights_: dict[str, float] = field(default_factory=dict, init=False)

    def meta_fit(self, source_lat: np.ndarray, n: int, features: np.ndarray | None = None) -> MetaTransfer:
        """Chooses each candidate's penalty by playing ``n``-shot transfer among the source devices.

        Args:
            source_lat: ``(rows, k)`` latencies (ms) of many architectures on ``k >= 2`` known devices.
            n: Target measurements the transfer will be fit on.
            features: ``(rows, f)`` structural features of the same architectures (optional).
        """
        logs = _log(source_lat, "source_lat")
        if logs.ndim != 2 or logs.shape[1] < 2:
            raise invalid("source_lat", "be (rows, devices) with at least 2 known devices", logs.shape)
        if not 3 <= n < len(logs):
            raise invalid("n", f"be in [3, {len(logs) - 1}]", n)
        feats = None if features is None else np.asarray(features, float)
        errors: dict[str, np.ndarray] = {}
        for pseudo in range(logs.shape[1]):
            rest = [i for i in range(logs.shape[1]) if i != pseudo]
            y_all = logs[:, pseudo]
            for name, X in _designs(logs[:, rest], feats).items():
                errors.setdefault(name, np.zeros(len(ALPHAS)))
                errors[name] += self._pseudo_errors(X, y_all, n, pseudo)
        self.alphas_ = {name: float(ALPHAS[int(np.argmin(err))]) for name, err in errors.items()}
        return self

    def _pseudo_errors(self, X: np.ndarray, y: np.ndarray, n: int, pseudo: int) -> np.ndarray:
        err = np.zeros(len(ALPHAS))
        scale = float(np.var(y)) or 1.0
        for d in range(self.draws):
            rng = np.random.default_rng([self.seed, pseudo, d, n])
            rows = rng.choice(len(y), size=n, replace=False)
            held = rng.choice(len(y), size=min(self.eval_rows, len(y)), replace=False)
            for j, alpha in enumerate(ALPHAS):
                w, b = ridge_fit(X[rows], y[rows], float(alpha))
                err[j] += float(np.mean(np.square(X[held] @ w + b - y[held]))) / scale
        return err

    def fit(self, source_lat: np.ndarray, target_lat: np.ndarray, features: np.ndarray | None = None) -> MetaTransfer:
        """Fits every candidate on the ``N`` measured architectures and weights them.

        Args:
            source_lat: ``(N, k)`` their latencies (ms) on the known devices.
            target_lat: ``(N,)`` their measured latency on the new device.
            features: ``(N, f)`` their structural features (needed if :meth:`meta_fit` had them).
        """
        if not self.alphas_:
            raise invalid("MetaTransfer", "be meta-fitted (meta_fit) before fit", "not meta-fitted")
        y = _log(target_lat, "target_lat")
        if len(y) < 3:
            raise invalid("target_lat", "hold at least 3 measurements", len(y))
        designs = self._checked_designs(source_lat, features)
        self.models_ = {}
        for name, X in designs.items():
            alpha = self.alphas_[name]
            w, b = ridge_fit(X, y, alpha)
            self.models_[name] = (w, b, loo_mse(X, y, alpha))
        inv = {name: 1.0 / max(m[2], 1e-12) for name, m in self.models_.items()}
        total = sum(inv.values())
        self.weights_ = {name: v / total for name, v in inv.items()}
        return self

    def _checked_designs(self, source_lat: np.ndarray, features: np.ndarray | None) -> dict[str, np.ndarray]:
        if ("structure" in self.alphas_) != (features is not None):
            raise invalid("features", "be given exactly when meta_fit had them", features is not None)
        return _designs(_log(np.atleast_2d(source_lat), "source_lat"),
                        None if features is None else np.atleast_2d(np.asarray(features, float)))

    def predict(self, source_lat: np.ndarray, features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and std (ms) of the new device's latency."""
        if not self.models_:
            raise invalid("MetaTransfer", "be fitted before predict", "unfitted")
        designs = self._checked_designs(source_lat, features)
        preds = {name: designs[name] @ w + b for name, (w, b, _) in self.models_.items()}
        mu = sum(self.weights_[n] * p for n, p in preds.items())
        spread = sum(self.weights_[n] * (np.square(p - mu) + self.models_[n][2]) for n, p in preds.items())
        mean = np.exp(mu + 0.5 * spread)
        return mean, mean * np.sqrt(np.expm1(spread))


def choice_counts(archs: list[Any]) -> np.ndarray:
    """Compact structure: how often each choice value occurs in each architecture.

    For a cell space (NB201: six edges, each one of five operations) this is the operation count
    of the cell, which carries nearly all of a device's cost profile in 5 numbers where a one-hot
    encoding needs 30 (too many to fit from 10 measurements).

    Args:
        archs: :class:`~nas.space.Arch` objects of one space.

    Returns:
        ``(len(archs), values)`` counts, columns in sorted order of the values' text.
    """
    values = sorted({repr(v) for a in archs for _, v in a.items})
    col = {v: i for i, v in enumerate(values)}
    out = np.zeros((len(archs), len(values)))
    for r, a in enumerate(archs):
        for _, v in a.items:
            out[r, col[repr(v)]] += 1
    return out
