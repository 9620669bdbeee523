"""The :class:`Supernet` contract: one ``nn.Module`` whose subnets slice one set of weights.

Call sequence::

    net = spec.build_supernet(space, task)      # max-size weights
    with net.activate(arch):                    # sets every elastic op's active slice
        logits = net(x)                         # runs the active subnet
    static = net.export(arch)                   # plain torch module, copied weights

Elastic ops only slice; the sampling policy (uniform, sandwich) lives in the trainer.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from torch import nn

from nas.space import Arch, SearchSpace

T = TypeVar("T")

__all__ = ["Supernet", "seeded_build"]


def seeded_build(build: Callable[[], T], seed: int) -> T:
    """Calls ``build`` with torch's generator seeded by ``seed``, restoring the global state after.

    Module constructors draw their initial weights from torch's global generator; this makes a
    supernet's initialisation a function of the run seed without leaking global state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


class Supernet(nn.Module, ABC):
    """Base class of weight-entangled supernets.

    Subclasses implement :meth:`_set_active` (push an architecture's choices into the elastic
    ops) and :meth:`_export` (build a static module for an architecture).

    Args:
        space: The search space whose architectures this supernet runs.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self._active: Arch | None = None

    @property
    def active_arch(self) -> Arch:
        """The architecture currently active (the max architecture until one is activated)."""
        return self._active if self._active is not None else self.max_arch()

    def max_arch(self) -> Arch:
        """The largest architecture of the space."""
        return self.space.make(self.space.max_values())

    def min_arch(self) -> Arch:
        """The smallest architecture of the space."""
        return self.space.make(self.space.min_values())

    def set_arch(self, arch: Arch) -> None:
        """Makes ``arch`` the active subnet until changed (the trainer's fast path)."""
        self.space.check(arch)
        self._set_active(arch)
        self._active = arch

    @contextlib.contextmanager
    def activate(self, arch: Arch) -> Iterator[Supernet]:
        """Context manager that activates ``arch`` and restores the previous subnet on exit."""
        previous = self._active
        self.set_arch(arch)
        try:
            yield self
        finally:
            if previous is not None:
                self.set_arch(previous)
            else:
                self._set_active(self.max_arch())
                self._active = None

    @torch.no_grad()
    def export(self, arch: Arch) -> nn.Module:
        """Returns a static module for ``arch`` with copies of the active weight slices.

        The static module is in the same train/eval mode as the supernet, and its outputs equal
        the activated supernet's outputs.
        """
        with self.activate(arch):
            module = self._export(arch)
        return module.train(self.training)

    @abstractmethod
    def _set_active(self, arch: Arch) -> None:
        """Pushes ``arch``'s choices into the elastic ops."""

    @abstractmethod
    def _export(self, arch: Arch) -> nn.Module:
        """Builds the static module of the currently active ``arch``."""
