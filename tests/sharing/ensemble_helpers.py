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


TINY_SPACE = "cnn1d-ens-tiny"
TINY_WIDTHS, TINY_KERNELS, TINY_DEPTHS = (4, 8, 16), (3, 5, 7), (1, 2)


def _tiny_space():
    from search_spaces.cnn1d import build_cnn1d_space

    return build_cnn1d_space(TINY_WIDTHS, TINY_KERNELS, TINY_DEPTHS, name=TINY_SPACE)


def _tiny_supernet(space, task):
    from search_spaces.cnn1d import CNN1dSupernet

    return CNN1dSupernet(space, task.input_shape[0], task.input_shape[1], task.num_classes)


def register_tiny(monkeypatch) -> str:
    """Registers a tiny cnn1d (widths {4, 8, 16}, kernels {3, 5, 7}, depths {1, 2}) and its ensemble
    adapter for one test (``monkeypatch`` removes both after it); returns the space name."""
    from nas.catalog import SPACES, SpaceSpec
    from nas.sharing.ensemble import ENSEMBLE_BASES
    from search_spaces.cnn1d import short_cnn1d
    from search_spaces.cnn1d_ensemble import Cnn1dStages

    spec = SpaceSpec(name=TINY_SPACE, build_space=_tiny_space, tasks=("mnist1d",), build_supernet=_tiny_supernet,
                     description="tiny cnn1d for ensemble tests", short=short_cnn1d)
    monkeypatch.setitem(SPACES._entries, TINY_SPACE, spec)
    monkeypatch.setitem(ENSEMBLE_BASES._entries, TINY_SPACE, Cnn1dStages())
    return TINY_SPACE
