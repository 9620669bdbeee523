"""MLP ensemble: K small torch MLPs on bootstrap resamples; mean and std over members."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictors._mlp import fit_scaled_members, predict_members, torch_threads
from predictors.base import Predictor, register_predictor

__all__ = ["MLPEnsemblePredictor", "check_mlp_settings"]


def check_mlp_settings(
    *,
    seed: int,
    n_members: int,
    hidden: Sequence[int],
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    max_steps: int,
    n_threads: int | None = None,
) -> None:
    """Validates the settings shared by the torch predictors.

    Raises:
        ValueError: naming the first invalid setting.
    """
    for name, value in (
        ("seed", seed),
        ("n_members", n_members),
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("max_steps", max_steps),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"`{name}` must be an integer, got {value!r}")
        if value < (0 if name == "seed" else 1):
            rule = "non-negative" if name == "seed" else "positive"
            raise ValueError(f"`{name}` must be {rule}, got {value}")
    if n_threads is not None and (
        isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1
    ):
        raise ValueError(f"`n_threads` must be a positive integer or None, got {n_threads!r}")
    if len(hidden) == 0 or any(int(h) < 1 for h in hidden):
        raise ValueError(f"`hidden` must be a non-empty list of positive widths, got {hidden!r}")
    if not lr > 0:
        raise ValueError(f"`lr` must be positive, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be non-negative, got {weight_decay}")


@register_predictor("mlp_ensemble")
class MLPEnsemblePredictor(Predictor):
    """An ensemble of small ReLU MLPs trained with MSE (deep-ensemble style).

    Inputs and targets are standardised with the training statistics. Member ``k`` starts from
    its own random initialisation and trains on its own bootstrap resample; all members are
    trained together as one batched network, so ``n_members=5`` costs little more than one.
    ``mean`` and ``std`` are the mean and standard deviation of the member predictions.

    Args:
        seed: Seed of the ensemble's own ``torch.Generator`` (initialisation, resamples,
            mini-batch order).
        n_members: Number of members ``K``.
        hidden: Hidden layer widths.
        epochs: Passes over each member's resample.
        lr: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
        batch_size: Mini-batch size; sets at or below it train full-batch.
        max_steps: Upper bound on optimiser steps, whatever ``epochs`` says.
        n_threads: torch threads while fitting and predicting (restored afterwards);
            ``None`` keeps torch's setting. One thread is fastest for these small nets.
        bootstrap: Resample the training set per member (else only initialisations differ).
    """

    def __init__(
        self,
        seed: int = 0,
        n_members: int = 5,
        hidden: Sequence[int] = (64, 64),
        epochs: int = 200,
        lr: float = 3e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 256,
        max_steps: int = 3000,
        n_threads: int | None = 1,
        bootstrap: bool = True,
    ) -> None:
        check_mlp_settings(
            seed=seed, n_members=n_members, hidden=hidden, epochs=epochs, lr=lr,
            weight_decay=weight_decay, batch_size=batch_size, max_steps=max_steps,
            n_threads=n_threads,
        )
        self.seed = int(seed)
        self.n_members = int(n_members)
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.batch_size = int(batch_size)
        self.max_steps = int(max_steps)
        self.n_threads = None if n_threads is None else int(n_threads)
        self.bootstrap = bool(bootstrap)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        fit_scaled_members(self, X, y, bootstrap=self.bootstrap)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch_threads(self.n_threads):
            members = predict_members(self.model_, self.x_scaler_(X))
        members = members * self.y_scale_ + self.y_mean_
        return members.mean(axis=0), members.std(axis=0)
