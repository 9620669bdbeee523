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
    """Boolean mask of the non-dominated rows of ``losses`` (duplicates all kept)."""
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    mask = np.ones(n, dtype=bool)
    order = np.lexsort(losses.T[::-1])  # sort by first objective, ties by the next
    front: list[int] = []
    for i in order:
        p = losses[i]
        dominated = False
        for j in front:
            q = losses[j]
            if np.all(q <= p) and np.any(q < p):
                dominated = True
                break
        if dominated:
            mask[i] = False
        else:
            front.append(i)
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
