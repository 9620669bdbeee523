"""Pareto fronts and hypervolume over named objectives.

Points are converted to losses (maximised objectives negated), so that "smaller is better" on
every axis. Hypervolume uses Optuna's exact implementation (WFG / box decomposition).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas.search.objectives import Objective

__all__ = ["to_losses", "pareto_mask", "hypervolume", "reference_point", "hypervolume_history"]


def to_losses(values: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Converts a ``(n, k)`` array of objective values to losses (max objectives negated)."""
    signs = np.array([o.sign for o in objectives], dtype=float)
    return np.asarray(values, dtype=float).reshape(-1, len(objectives)) * signs


def pareto_mask(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``losses`` (duplicates all kept).

    Two objectives take an ``O(n log n)`` sweep; more compare each row with the front found so far.
    """
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if losses.ndim == 2 and losses.shape[1] == 2:
        return _pareto_mask_2d(losses)
    mask = np.ones(n, dtype=bool)
    order = np.lexsort(losses.T[::-1])  # sort by first objective, ties by the next
    front = np.empty((0, losses.shape[1]))
    for i in order:
        p = losses[i]
        if np.any(np.all(front <= p, axis=1) & np.any(front < p, axis=1)):
            mask[i] = False
        else:
            front = np.vstack([front, p])
    return mask


def _pareto_mask_2d(losses: np.ndarray) -> np.ndarray:
    """:func:`pareto_mask` for two objectives: sorted by ``(x, y)``, a row is dominated when an
    earlier row with a smaller ``x`` has ``y`` at most its own, or one with the same ``x`` a smaller ``y``."""
    order = np.lexsort((losses[:, 1], losses[:, 0]))
    x, y = losses[order, 0], losses[order, 1]
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    group_start = starts[np.searchsorted(starts, np.arange(len(x)), side="right") - 1]
    prefix_min = np.minimum.accumulate(y)
    before = np.where(group_start > 0, prefix_min[np.maximum(group_start - 1, 0)], np.inf)
    dominated = (before <= y) | (y > y[group_start])
    mask = np.empty(len(x), dtype=bool)
    mask[order] = ~dominated
    return mask


def reference_point(losses: np.ndarray, margin: float = 0.01) -> np.ndarray:
    """The nadir of ``losses`` pushed out by ``margin`` of each axis' range (at least 1e-9)."""
    losses = np.asarray(losses, dtype=float)
    worst, best = losses.max(axis=0), losses.min(axis=0)
    return worst + np.maximum((worst - best) * margin, 1e-9)


def hypervolume(losses: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by ``losses`` and bounded by ``ref`` (points beyond ``ref`` ignored)."""
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        return 0.0
    keep = np.all(losses < ref, axis=1)
    pts = losses[keep]
    if len(pts) == 0:
        return 0.0
    pts = pts[pareto_mask(pts)]
    if pts.shape[1] == 2:
        pts = pts[np.argsort(pts[:, 0])]
        hv, prev_y = 0.0, ref[1]
        for x, y in pts:
            if y < prev_y:
                hv += (ref[0] - x) * (prev_y - y)
                prev_y = y
        return float(hv)
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(pts, np.asarray(ref, dtype=float), assume_pareto=True))


def hypervolume_history(losses: np.ndarray, ref: np.ndarray, every: int = 1) -> np.ndarray:
    """Hypervolume after each ``every``-th point, in the order given (front updated incrementally)."""
    losses = np.asarray(losses, dtype=float)
    out = []
    front = np.empty((0, losses.shape[1]))
    for i, p in enumerate(losses):
        front = np.vstack([front, p])
        front = front[pareto_mask(front)]
        if (i + 1) % every == 0 or i == len(losses) - 1:
            out.append(hypervolume(front, ref))
    return np.asarray(out)
