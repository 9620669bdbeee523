"""Built-in multi-task tasks (generated locally, seeded, no downloads).

* ``mnist1d-multi``: MNIST-1D inputs ``(1, 40)`` with four heads: ``digit`` (10 classes),
  ``parity`` (odd/even), ``big`` (digit > 4) and ``family`` (3 classes): the sign family of the
  digit's MNIST-1D template (positive-only, negative-only or mixed-sign), derived from
  ``mnist1d.data.get_templates`` so that it is a property of the shape each digit is drawn from.
* ``synthetic-affinity``: two independent latent factor groups A and B (3 standard normal
  factors each) drawn as smooth random waveforms into channels 0 (A) and 1 (B) of a ``(2, 32)``
  input with noise. Heads ``a_quadrant`` (4 classes: signs of A0, A1), ``a_product`` (sign of
  A0·A1: the same features, read differently), ``b_quadrant`` and ``b_product`` (the same on B): heads 1–2 depend on group A only and
  heads 3–4 on group B only, so the right tree (first split {1,2} | {3,4}) is known.

Targets are ``(N, 4)`` integer tensors; see :mod:`nas.multitask` for the output convention.
"""

from __future__ import annotations

import numpy as np
import torch

from nas.data import TASKS, Split, Task, TaskSpec, cached_arrays
from search_spaces.mnist1d_task import load_mnist1d

__all__ = ["load_mnist1d_multi", "load_synthetic_affinity", "template_families", "make_affinity",
           "MNIST1D_HEADS", "AFFINITY_HEADS", "AFFINITY_GROUPS"]

MNIST1D_HEADS = (("digit", 10), ("parity", 2), ("big", 2), ("family", 3))
AFFINITY_HEADS = (("a_quadrant", 4), ("a_product", 2), ("b_quadrant", 4), ("b_product", 2))
AFFINITY_GROUPS = (0, 0, 1, 1)  # the latent group each head of synthetic-affinity depends on
AFFINITY_SIZES = (3000, 500, 1000)  # train, val, test
AFFINITY_LENGTH = 32
AFFINITY_NOISE = 0.25
AFFINITY_SEED = 20260
_THRESHOLD = 0.05


def template_families() -> np.ndarray:
    """Family (0 positive-only, 1 negative-only, 2 mixed-sign) of each digit's MNIST-1D template."""
    from mnist1d.data import get_templates

    shapes = np.asarray(get_templates()["x"])
    pos = (shapes > _THRESHOLD).any(axis=1)
    neg = (shapes < -_THRESHOLD).any(axis=1)
    return np.where(pos & neg, 2, np.where(neg, 1, 0)).astype(np.int64)


def _digit_labels(digits: torch.Tensor, families: np.ndarray) -> torch.Tensor:
    fam = torch.as_tensor(families)[digits]
    return torch.stack([digits, digits % 2, (digits > 4).long(), fam], dim=1)


def load_mnist1d_multi(seed: int = 0) -> Task:
    """MNIST-1D with the four heads ``digit``, ``parity``, ``big``, ``family`` (same inputs and splits
    as ``mnist1d``)."""
    base = load_mnist1d(seed)
    fam = template_families()
    splits = [Split(s.x, _digit_labels(s.y, fam)) for s in (base.train, base.val, base.test)]
    return Task("mnist1d-multi", base.input_shape, sum(c for _, c in MNIST1D_HEADS), *splits, heads=MNIST1D_HEADS)


def _smooth_basis(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """``count`` smooth unit-norm waveforms: random low-frequency sinusoid mixtures."""
    t = np.arange(length) / length
    out = np.zeros((count, length))
    for i in range(count):
        for f in range(1, 4):
            out[i] += rng.normal() * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        out[i] /= np.linalg.norm(out[i])
    return out * np.sqrt(length)


def _affinity_labels(u: np.ndarray) -> np.ndarray:
    quadrant = 2 * (u[:, 0] > 0) + (u[:, 1] > 0)
    product = (u[:, 0] * u[:, 1] > 0).astype(np.int64)
    return np.stack([quadrant, product], axis=1).astype(np.int64)


def make_affinity(seed: int = AFFINITY_SEED, num_samples: int = sum(AFFINITY_SIZES),
                  length: int = AFFINITY_LENGTH, noise: float = AFFINITY_NOISE) -> dict[str, np.ndarray]:
    """Generates the synthetic-affinity arrays ``x`` ``(N, 2, length)`` and ``y`` ``(N, 4)``.

    Args:
        seed: Seed of the generator (bases, factors and noise).
        num_samples: Samples generated.
        length: Signal length.
        noise: Standard deviation of the additive Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    basis = [_smooth_basis(rng, 3, length) for _ in range(2)]
    factors = [rng.normal(size=(num_samples, 3)) for _ in range(2)]
    x = np.stack([f @ b for f, b in zip(factors, basis)], axis=1)
    x = x + noise * rng.normal(size=x.shape)
    y = np.concatenate([_affinity_labels(f) for f in factors], axis=1)
    return {"x": x.astype(np.float32), "y": y}


def load_synthetic_affinity(seed: int = 0) -> Task:
    """The synthetic-affinity task (fixed generation seed: every run sees the same data).

    Args:
        seed: Unused (the data are fixed, as for ``mnist1d``).
    """
    del seed
    a = cached_arrays(f"synthetic_affinity_v2_{AFFINITY_SEED}_{sum(AFFINITY_SIZES)}", make_affinity)
    x, y = torch.tensor(a["x"]), torch.tensor(a["y"], dtype=torch.long)
    n_tr, n_val, _ = AFFINITY_SIZES
    splits = (Split(x[:n_tr], y[:n_tr]), Split(x[n_tr : n_tr + n_val], y[n_tr : n_tr + n_val]),
              Split(x[n_tr + n_val :], y[n_tr + n_val :]))
    return Task("synthetic-affinity", (2, AFFINITY_LENGTH), sum(c for _, c in AFFINITY_HEADS), *splits,
                heads=AFFINITY_HEADS)


TASKS.add("mnist1d-multi", TaskSpec("mnist1d-multi", load_mnist1d_multi,
                                    "MNIST-1D with 4 heads: digit, parity, digit > 4, template family",
                                    heads=tuple(n for n, _ in MNIST1D_HEADS)))
TASKS.add("synthetic-affinity", TaskSpec("synthetic-affinity", load_synthetic_affinity,
                                         "2 latent groups A/B, heads 1-2 read A only, heads 3-4 B only (known tree)",
                                         heads=tuple(n for n, _ in AFFINITY_HEADS)))
