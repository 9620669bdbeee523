"""Predictor quality metrics: rank correlation, relative error and top-k regret.

All functions take two 1-D sequences of equal length (``y_true`` first) and return plain
floats. Rank correlations of a constant input are undefined; they are reported as ``0.0``
(no information), never NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "mape", "regression_report", "spearman", "top_k_regret", "within"]


def _pair(y_true: Any, y_pred: Any, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=float).reshape(-1)
    p = np.asarray(y_pred, dtype=float).reshape(-1)
    if len(t) != len(p):
        raise ValueError(
            f"`y_pred` must have the length of `y_true` ({len(t)}), got {len(p)}"
        )
    if len(t) < min_len:
        raise ValueError(f"`y_true` must have at least {min_len} values, got {len(t)}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("`y_true` and `y_pred` must be finite, got NaN or inf")
    return t, p


def _is_constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a[0]))


def kendall_tau(y_true: Any, y_pred: Any) -> float:
    """Kendall's tau-b between true and predicted values.

    Returns:
        A value in ``[-1, 1]``; ``0.0`` when fewer than 2 values or either input is constant.
    """
    t, p = _pair(y_true, y_pred)
    if len(t) < 2 or _is_constant(t) or _is_constant(p):
        return 0.0
    tau = stats.kendalltau(t, p).statistic
    return 0.0 if not np.isfinite(tau) else float(tau)


def spearman(y_true: Any, y_pred: Any) -> float:
    """Spearman's rank correlation between true and predicted values.

    Returns:
        A value in ``[-1, 1]``; ``0.0`` when fewer than 2 values or either input is constant.
    """
    t, p = _pair(y_true, y_pred)
    if len(t) < 2 or _is_constant(t) or _is_constant(p):
        return 0.0
    rho = stats.spearmanr(t, p).statistic
    return 0.0 if not np.isfinite(rho) else float(rho)


def mape(y_true: Any, y_pred: Any) -> float:
    """Mean absolute percentage error, as a fraction (``0.05`` means 5%).

    ``mean(|y_pred - y_true| / |y_true|)``, the scikit-learn convention.

    Raises:
        ValueError: if any ``y_true`` is zero (the relative error is undefined).
    """
    t, p = _pair(y_true, y_pred)
    if np.any(t == 0):
        raise ValueError("`y_true` must be non-zero for MAPE, got a 0")
    return float(np.mean(np.abs(p - t) / np.abs(t)))


def within(y_true: Any, y_pred: Any, rel: float = 0.10) -> float:
    """Share of predictions within ``±rel`` relative error of the truth.

    Args:
        y_true: True values.
        y_pred: Predicted values.
        rel: Relative tolerance; ``0.10`` means ±10%.

    Returns:
        The fraction in ``[0, 1]`` of ``|y_pred - y_true| <= rel * |y_true|``.
    """
    if not (np.isfinite(rel) and rel >= 0):
        raise ValueError(f"`rel` must be a non-negative number, got {rel!r}")
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t) <= rel * np.abs(t) + 1e-12))


def top_k_regret(y_true: Any, y_pred: Any, k: int = 1, maximize: bool = True) -> float:
    """How much worse the best of the top-``k`` predicted items is than the true best.

    The ``k`` items with the best predictions are picked (ties by position); the regret is
    the gap between the best true value overall and the best true value among them.

    Args:
        y_true: True values.
        y_pred: Predicted values.
        k: How many top-predicted items are (notionally) evaluated; ``1 <= k``. Values above
            the number of items are clipped, which gives regret 0.
        maximize: Whether larger values are better.

    Returns:
        A non-negative float, ``0.0`` when the true best is among the picked items.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}")
    t, p = _pair(y_true, y_pred)
    sign = 1.0 if maximize else -1.0
    order = np.argsort(-sign * p, kind="stable")[: min(int(k), len(p))]
    picked = t[order]
    if maximize:
        return float(t.max() - picked.max())
    return float(picked.min() - t.min())


def regression_report(y_true: Any, y_pred: Any, rel: float = 0.10) -> dict[str, float]:
    """All four predictor metrics in one dict.

    Returns:
        ``{"kendall_tau", "spearman", "mape", "within_10"}`` (``within_10`` uses ``rel``).
        ``mape`` is ``nan`` when ``y_true`` contains a zero.
    """
    t, p = _pair(y_true, y_pred)
    try:
        m = mape(t, p)
    except ValueError:
        m = float("nan")
    return {
        "kendall_tau": kendall_tau(t, p),
        "spearman": spearman(t, p),
        "mape": m,
        "within_10": within(t, p, rel),
    }
