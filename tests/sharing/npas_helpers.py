"""A tiny cnn1d supernet and banked versions of it, shared by the NPAS tests."""

from __future__ import annotations

from nas.sharing.bank import BankedSupernet, banked_layers
from nas.sharing.npas import make_groups
from nas.supernet.base import seeded_build

TINY_WIDTHS, TINY_KERNELS, TINY_DEPTHS = (4, 8), (3, 5), (1, 2)


def tiny_cnn1d(task, seed: int = 0):
    """A cnn1d supernet with widths {4, 8}, kernels {3, 5}, depths {1, 2} (seeded initialisation)."""
    from search_spaces.cnn1d import CNN1dSupernet, build_cnn1d_space

    space = build_cnn1d_space(TINY_WIDTHS, TINY_KERNELS, TINY_DEPTHS)
    return seeded_build(lambda: CNN1dSupernet(space, task.input_shape[0], task.input_shape[1], task.num_classes), seed)


def natural_size(task) -> int:
    """Trainable parameters of the tiny supernet."""
    return sum(p.numel() for p in tiny_cnn1d(task).parameters())


def tiny_banked(task, fraction: float = 0.25, how: str = "type", seed: int = 0, upsample: str = "tile",
                templates: int = 4) -> BankedSupernet:
    """The tiny supernet under ``fraction`` of its natural size with the ``how`` mapping."""
    inner = tiny_cnn1d(task, seed)
    groups = make_groups(how, banked_layers(inner), None, seed)
    budget = int(round(fraction * natural_size(task)))
    return BankedSupernet(inner, groups, budget, templates, upsample, seed)


TINY_SPACE = "cnn1d-npas-tiny"


def _tiny_space():
    from search_spaces.cnn1d import build_cnn1d_space

    return build_cnn1d_space(TINY_WIDTHS, TINY_KERNELS, TINY_DEPTHS, name=TINY_SPACE)


def _tiny_supernet(space, task):
    from search_spaces.cnn1d import CNN1dSupernet

    return CNN1dSupernet(space, task.input_shape[0], task.input_shape[1], task.num_classes)


def tiny_spec():
    """A registered-space entry for the tiny cnn1d (tests add it with ``monkeypatch``, never for good)."""
    from nas.catalog import SpaceSpec
    from search_spaces.cnn1d import short_cnn1d

    return SpaceSpec(name=TINY_SPACE, build_space=_tiny_space, tasks=("mnist1d",), build_supernet=_tiny_supernet,
                     description="tiny cnn1d for NPAS tests", short=short_cnn1d)
