"""Tasks: the data a space is trained and scored on, with train / validation / test splits.

A task is loaded once per process and cached on disk as ``.npz`` (generation can take seconds).
The validation split drives the search; the test split is only reported.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nas.registry import Registry

__all__ = ["Split", "Task", "TaskSpec", "TASKS", "cache_dir", "cached_arrays", "batches"]


@dataclass(frozen=True)
class Split:
    """Inputs and integer class targets of one split."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Task:
    """A classification task with fixed splits.

    Attributes:
        name: Registered name.
        input_shape: Shape of one input, without the batch dimension (e.g. ``(1, 40)``).
        num_classes: Number of target classes.
        train, val, test: The splits; search scores on ``val``, reports ``test``.
        heads: Multi-task tasks: ``(name, classes)`` of each task head, in output order; targets
            are ``(N, T)`` and a model's output is the concatenation of the heads' logits
            (``num_classes`` = their sum; see :mod:`nas.multitask`). Empty for one task.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    train: Split
    val: Split
    test: Split
    heads: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: a loader, a description and, for multi-task tasks, its head names
    (known before loading, so that ``acc_<head>`` metrics validate as objectives)."""

    name: str
    load: Callable[[int], Task]
    description: str = ""
    heads: tuple[str, ...] = ()


TASKS: Registry[TaskSpec] = Registry("task")


def cache_dir() -> Path:
    """Where generated datasets are cached (``$SHARENAS_CACHE`` or ``~/.cache/sharenas``)."""
    root = os.environ.get("SHARENAS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sharenas")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_arrays(key: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Returns arrays cached under ``key``, generating and storing them atomically on a miss."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # corrupt cache: regenerate
    arrays = make()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return arrays


def batches(split: Split, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yields mini-batches; shuffled when a generator is given, in order otherwise."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield split.x[idx], split.y[idx]
