"""The ``mnist1d`` task: MNIST-1D generated locally (never downloaded).

Uses ``mnist1d.data.make_dataset(get_dataset_args())``; its own 80/20 split gives train and
test, and the last ``val_size`` training samples become the validation split used by search.
"""

from __future__ import annotations

import numpy as np
import torch

from nas.data import TASKS, Split, Task, TaskSpec, cached_arrays

__all__ = ["load_mnist1d"]

VAL_SIZE = 500


def _generate(num_samples: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    # make_dataset seeds numpy's global generator itself; keep the caller's state intact.
    state = np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return {"x": d["x"], "y": d["y"], "x_test": d["x_test"], "y_test": d["y_test"]}


def load_mnist1d(seed: int = 0, num_samples: int = 5000) -> Task:
    """Loads (generating once, then from the cache) the MNIST-1D task.

    Args:
        seed: Unused: MNIST-1D has a fixed generation seed so that every run sees the same data.
        num_samples: Total samples generated (80% train+val, 20% test).
    """
    del seed
    a = cached_arrays(f"mnist1d_{num_samples}", lambda: _generate(num_samples))
    x = torch.tensor(a["x"], dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(a["y"], dtype=torch.long)
    xt = torch.tensor(a["x_test"], dtype=torch.float32).unsqueeze(1)
    yt = torch.tensor(a["y_test"], dtype=torch.long)
    n_val = VAL_SIZE
    return Task(
        name="mnist1d",
        input_shape=(1, x.shape[-1]),
        num_classes=10,
        train=Split(x[:-n_val], y[:-n_val]),
        val=Split(x[-n_val:], y[-n_val:]),
        test=Split(xt, yt),
    )


TASKS.add("mnist1d", TaskSpec("mnist1d", load_mnist1d, "MNIST-1D (generated locally), 10 classes, length 40"))
