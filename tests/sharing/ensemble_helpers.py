"""Helpers of the ensemble tests: a small MNIST-1D task and an ensemble supernet over cnn1d."""

from __future__ import annotations

from dataclasses import replace


def small_mnist1d():
    """MNIST-1D with 256 training and 200 validation/test samples (fast training steps)."""
    from nas.data import TASKS, Split

    task = TASKS.get("mnist1d").load(0)
    return replace(task, train=Split(task.train.x[:256], task.train.y[:256]),
                   val=Split(task.val.x[:200], task.val.y[:200]), test=Split(task.test.x[:200], task.test.y[:200]))


def make_ensemble(task, members: int = 2, seed: int = 0):
    """An untrained ensemble supernet over cnn1d with ``members`` copies (seeded)."""
    from nas.catalog import SPACES
    from nas.config import load_config
    from nas.sharing import SHARING, load_modes
    from nas.supernet.base import seeded_build

    load_modes()
    mode = SHARING.get("ensemble")
    cfg = load_config(None, {"sharing.kind": "ensemble", "sharing.members": members})
    spec = mode.run_spec(SPACES.get("cnn1d"), cfg, None)
    return seeded_build(lambda: mode.build_supernet(spec, task, cfg, None), seed), spec
