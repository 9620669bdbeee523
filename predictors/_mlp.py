"""A batch of K small MLPs trained together (private core of the torch predictors).

All members share one set of batched weight tensors of shape ``(K, fan_in, fan_out)``, so a
training step for the whole ensemble is a few batched matrix products. Each member sees its
own bootstrap resample and its own initialisation, both drawn from one ``torch.Generator``
owned by the caller: nothing touches torch's global random state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = ["BatchedMLP", "Standardizer", "fit_scaled_members", "predict_members", "torch_threads", "train_members"]

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Sets torch's intra-op thread count for the block and restores it afterwards.

    Small MLPs train fastest on one thread, and more threads than free cores make OpenMP
    spin-wait (tens of times slower on a busy 2-core machine). ``None`` leaves it alone.
    """
    if n_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Standardizer:
    """Per-column standardisation; constant columns are only centred."""

    def __init__(self, data: np.ndarray) -> None:
        self.mean = data.mean(axis=0)
        scale = data.std(axis=0)
        self.scale = np.where(scale > 1e-12, scale, 1.0)

    def __call__(self, data: np.ndarray) -> np.ndarray:
        return (data - self.mean) / self.scale


class BatchedMLP:
    """``K`` ReLU MLPs with scalar output, evaluated in one batched pass.

    Args:
        n_members: Number of members ``K``.
        n_in: Input width.
        hidden: Hidden layer widths.
        generator: Source of the initial weights (He-uniform; output layer LeCun-uniform).
    """

    def __init__(
        self, n_members: int, n_in: int, hidden: Sequence[int], generator: torch.Generator
    ) -> None:
        widths = [n_in, *hidden, 1]
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = layer == len(widths) - 2
            bound = math.sqrt((3.0 if last else 6.0) / fan_in)
            w = torch.empty(n_members, fan_in, fan_out).uniform_(-bound, bound, generator=generator)
            b_bound = 1.0 / math.sqrt(fan_in)
            b = torch.empty(n_members, 1, fan_out).uniform_(-b_bound, b_bound, generator=generator)
            self.weights.append(w.requires_grad_())
            self.biases.append(b.requires_grad_())

    def parameters(self) -> list[torch.Tensor]:
        """All trainable tensors."""
        return [*self.weights, *self.biases]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(K, B, n_in)`` (or ``(B, n_in)``, shared by all members) to ``(K, B)``."""
        h = x if x.dim() == 3 else x.unsqueeze(0).expand(self.weights[0].shape[0], -1, -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mean squared error over members and batch (``generator`` is unused)."""
    return torch.mean((pred - target) ** 2)


def train_members(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_members: int,
    hidden: Sequence[int],
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    max_steps: int,
    bootstrap: bool,
    generator: torch.Generator,
    loss_fn: LossFn = mse_loss,
) -> BatchedMLP:
    """Trains ``n_members`` MLPs with Adam on standardised ``X`` and ``y``.

    Each member trains on its own bootstrap resample (or the full set when ``bootstrap`` is
    false) in shuffled mini-batches; the number of steps is
    ``min(epochs * ceil(n / batch_size), max_steps)``.

    Returns:
        The trained :class:`BatchedMLP` (gradients off).
    """
    n = len(y)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    model = BatchedMLP(n_members, X.shape[1], hidden, generator)
    if bootstrap:
        rows = torch.randint(0, n, (n_members, n), generator=generator)
    else:
        rows = torch.arange(n).expand(n_members, n).clone()
    # fused: one kernel per step instead of one per tensor (a quarter off a small ensemble's fit)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    batches_per_epoch = max(1, math.ceil(n / batch_size))
    n_steps = min(epochs * batches_per_epoch, max_steps)
    step = 0
    while step < n_steps:  # bounded: step increases every inner iteration
        if batches_per_epoch > 1:
            perm = torch.argsort(torch.rand(n_members, n, generator=generator), dim=1)
            order = torch.gather(rows, 1, perm)
        else:
            order = rows
        for start in range(0, n, batch_size):
            if step >= n_steps:
                break
            idx = order[:, start : start + batch_size]
            loss = loss_fn(model(Xt[idx]), yt[idx], generator)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def predict_members(model: BatchedMLP, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Member predictions, shape ``(K, n)``, in chunks of ``chunk`` rows."""
    out = []
    with torch.no_grad():
        for start in range(0, len(X), chunk):
            xt = torch.as_tensor(X[start : start + chunk], dtype=torch.float32)
            out.append(model(xt).numpy().astype(float))
    return np.concatenate(out, axis=1)


def fit_scaled_members(est: Any, X: np.ndarray, y: np.ndarray, *, bootstrap: bool,
                       loss_fn: LossFn = mse_loss) -> np.ndarray:
    """Standardises ``X`` and ``y`` on ``est`` and trains its members; returns the scaled target.

    ``est`` is an MLP-based predictor: it reads ``seed``, ``n_threads``, ``n_members``,
    ``hidden``, ``epochs``, ``lr``, ``weight_decay``, ``batch_size`` and ``max_steps`` from it
    and sets ``x_scaler_``, ``y_mean_``, ``y_scale_`` and ``model_`` on it.
    """
    est.x_scaler_ = Standardizer(X)
    est.y_mean_ = float(y.mean())
    est.y_scale_ = float(y.std()) or 1.0
    target = (y - est.y_mean_) / est.y_scale_
    with torch_threads(est.n_threads):
        est.model_ = train_members(
            est.x_scaler_(X), target, n_members=est.n_members, hidden=est.hidden, epochs=est.epochs,
            lr=est.lr, weight_decay=est.weight_decay, batch_size=est.batch_size, max_steps=est.max_steps,
            bootstrap=bootstrap, generator=torch.Generator().manual_seed(est.seed), loss_fn=loss_fn)
    return target
