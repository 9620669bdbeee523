"""MLP trained with a pairwise ranking loss, for search where order matters more than value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from predictors._mlp import fit_scaled_members, predict_members, torch_threads
from predictors.base import Predictor, register_predictor
from predictors.ensemble import check_mlp_settings

__all__ = ["RankingMLPPredictor", "pairwise_logistic_loss"]


def pairwise_logistic_loss(
    pred: torch.Tensor, target: torch.Tensor, generator: torch.Generator, n_pairs: int = 1024
) -> torch.Tensor:
    """RankNet-style logistic loss over randomly sampled pairs within each member's batch.

    For a pair ``(i, j)`` with ``target_i > target_j`` the loss is
    ``log(1 + exp(-(pred_i - pred_j)))``; tied pairs are ignored.

    Args:
        pred: Predictions, shape ``(K, B)``.
        target: Targets, shape ``(K, B)``.
        generator: Source of the pair indices.
        n_pairs: Pairs drawn per member.

    Returns:
        The mean loss over untied pairs (0 if all sampled pairs tie).
    """
    k, b = pred.shape
    i = torch.randint(0, b, (k, n_pairs), generator=generator)
    j = torch.randint(0, b, (k, n_pairs), generator=generator)
    sign = torch.sign(torch.gather(target, 1, i) - torch.gather(target, 1, j))
    diff = torch.gather(pred, 1, i) - torch.gather(pred, 1, j)
    mask = sign != 0
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return F.softplus(-sign[mask] * diff[mask]).mean()


def _calibrate(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member least-squares ``target ~ slope * pred + intercept`` with ``slope >= 0``.

    A non-negative affine map keeps each member's order and puts it on the target's scale.
    Returns ``(slope, intercept)`` as ``(K, 1)`` columns.
    """
    p_mean = pred.mean(axis=1, keepdims=True)
    centred = pred - p_mean
    var = (centred**2).mean(axis=1, keepdims=True)
    cov = (centred * (target - target.mean())).mean(axis=1, keepdims=True)
    slope = np.where(var > 1e-12, np.maximum(cov, 0.0) / np.maximum(var, 1e-12), 0.0)
    return slope, target.mean() - slope * p_mean


@register_predictor("ranking_mlp")
class RankingMLPPredictor(Predictor):
    """Small MLP ensemble trained on a pairwise ranking loss plus a small MSE term.

    The loss is ``pairwise_logistic_loss + mse_weight * MSE`` on standardised targets: the
    ranking term orders architectures, the MSE term keeps predictions near the target's scale.
    After training, each member's output is mapped onto the targets by a least-squares affine
    map with non-negative slope (order-preserving), so MAPE and within-10% stay meaningful. ``std`` is the spread over ``n_members``
    members (3 by default) with their own initialisation and bootstrap resample.

    Args:
        seed: Seed of the predictor's own ``torch.Generator``.
        n_members: Ensemble members (used for ``std``).
        hidden: Hidden layer widths.
        epochs: Passes over each member's resample.
        lr: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
        batch_size: Mini-batch size; pairs are sampled within a batch.
        max_steps: Upper bound on optimiser steps.
        n_threads: torch threads while fitting and predicting (restored afterwards);
            ``None`` keeps torch's setting. One thread is fastest for these small nets.
        n_pairs: Pairs sampled per member and step.
        mse_weight: Weight of the MSE term (non-negative).
    """

    def __init__(
        self,
        seed: int = 0,
        n_members: int = 3,
        hidden: Sequence[int] = (64, 64),
        epochs: int = 200,
        lr: float = 3e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 256,
        max_steps: int = 3000,
        n_threads: int | None = 1,
        n_pairs: int = 1024,
        mse_weight: float = 0.1,
    ) -> None:
        check_mlp_settings(
            seed=seed, n_members=n_members, hidden=hidden, epochs=epochs, lr=lr,
            weight_decay=weight_decay, batch_size=batch_size, max_steps=max_steps,
            n_threads=n_threads,
        )
        if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
            raise ValueError(f"`n_pairs` must be a positive integer, got {n_pairs!r}")
        if not (np.isfinite(mse_weight) and mse_weight >= 0):
            raise ValueError(f"`mse_weight` must be a non-negative number, got {mse_weight!r}")
        self.seed = int(seed)
        self.n_members = int(n_members)
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.batch_size = int(batch_size)
        self.max_steps = int(max_steps)
        self.n_threads = None if n_threads is None else int(n_threads)
        self.n_pairs = int(n_pairs)
        self.mse_weight = float(mse_weight)

    def _loss(self, pred: torch.Tensor, target: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        rank = pairwise_logistic_loss(pred, target, gen, self.n_pairs)
        return rank + self.mse_weight * torch.mean((pred - target) ** 2)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        target = fit_scaled_members(self, X, y, bootstrap=True, loss_fn=self._loss)
        with torch_threads(self.n_threads):
            train_pred = predict_members(self.model_, self.x_scaler_(X))
        self.calibration_ = _calibrate(train_pred, target)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch_threads(self.n_threads):
            members = predict_members(self.model_, self.x_scaler_(X))
        slope, intercept = self.calibration_
        members = (members * slope + intercept) * self.y_scale_ + self.y_mean_
        return members.mean(axis=0), members.std(axis=0)
