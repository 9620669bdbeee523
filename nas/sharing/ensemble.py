"""The ensemble supernet (NEAS): K members that share the first ``s`` stages and branch after.

Layout: ``M`` copies of the base supernet (``nets[0..M-1]``). For an ensemble ``(K, s, choices)``
the shared trunk is ``nets[0]``'s stages ``1..s`` (run once); member ``i`` runs ``nets[i]``'s
stages ``s+1..S`` and head on the trunk's output. Member 0 is therefore ``nets[0]`` end to end,
and ``K == 1`` is exactly the single-model supernet. A member's post-split weights are its own:
every copy is initialised independently (its own draw from the seeded build), because members
that start equal, see the same batches and run the same architecture would stay equal — an
ensemble needs diverse members from the first step.

Output: the mean of the members' **logits** (not of their softmax probabilities). It keeps the
output a logit vector, so the trainer's losses, the evaluator's argmax accuracy, BN calibration,
ONNX and the code generator all apply unchanged, and the static module is one mean.

Training (:mod:`nas.sharing.ensemble_train`) sums the members' losses; a backward hook on the
trunk's output divides the trunk's gradient by K, so the trunk gets the members' mean gradient
while each member gets its own full gradient (NEAS).

A base space takes part through an :class:`EnsembleBase` adapter registered in
:data:`ENSEMBLE_BASES` under the space's name (``search_spaces`` registers ``cnn1d``'s).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

import torch
from torch import nn

from nas.export.templates import register_block
from nas.registry import Registry
from nas.space import Arch, SearchSpace, Value
from nas.supernet.base import Supernet
from nas.sharing.ensemble_space import build_ensemble_space, member_values, members_of, split_of

__all__ = ["EnsembleBase", "ENSEMBLE_BASES", "EnsembleSupernet", "StaticEnsemble", "DivideGrad"]


class EnsembleBase(ABC):
    """How a base supernet is cut into stages for an ensemble.

    Segments are numbered ``1..stages`` (segment 1 includes the stem) and ``stages + 1`` is the
    head. The adapter reads the base supernet's active architecture; it never changes it.

    Attributes:
        stages: Number of stages a trunk can share (split points ``0..stages``).
    """

    stages: int = 0

    @abstractmethod
    def stage_of(self, label: str) -> int:
        """The stage (``1..stages``) that owns a base label."""

    @abstractmethod
    def forward_range(self, net: Supernet, x: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """Runs the active subnet's segments ``first..last`` (inclusive) on ``x``."""

    @abstractmethod
    def export_range(self, net: Supernet, first: int, last: int) -> nn.Module:
        """The static module of the active subnet's segments ``first..last``."""

    @abstractmethod
    def segment_modules(self, net: Supernet, segment: int) -> list[nn.Module]:
        """The parameterised modules of a segment at full size (for the sharing plan)."""


ENSEMBLE_BASES: Registry[EnsembleBase] = Registry("ensemble base space")


class DivideGrad:
    """Tensor backward hook that divides the gradient by ``k`` (picklable, unlike a lambda)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        return grad / self.k


class StaticEnsemble(nn.Module):
    """An exported ensemble: the trunk once, then K heads on its output, logits averaged."""

    def __init__(self, trunk: nn.Module, heads: list[nn.Module]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = self.trunk(x)
        return torch.stack([head(h) for head in self.heads]).mean(0)


register_block(StaticEnsemble)


class EnsembleSupernet(Supernet):
    """Supernet of ``<space>+ensemble`` (see the module docstring).

    Args:
        space: The ensemble space searched (possibly shrunk).
        base_space: The full base space (its supernet copies are built at full size).
        adapter: The base space's stage adapter.
        build_base: Builds one base supernet (called ``members`` times).
        members: Largest ensemble size ``M`` (number of base copies).
    """

    def __init__(self, space: SearchSpace, base_space: SearchSpace, adapter: EnsembleBase,
                 build_base: Callable[[], Supernet], members: int) -> None:
        super().__init__(space)
        self.base_space, self.adapter, self.members = base_space, adapter, members
        self.nets = nn.ModuleList([build_base() for _ in range(members)])
        self._k, self._split = 1, 0
        self._set_active(self.max_arch())

    def narrow(self, options: Mapping[str, tuple[Value, ...]]) -> None:
        """Narrows the searched space to ``options`` per base label (shrinking); weights keep
        their full size, so a shrunk supernet loads the same state dict."""
        self.space = build_ensemble_space(self.base_space, self.adapter.stage_of, self.adapter.stages,
                                          self.members, options, name=self.space.name)
        self._active = None
        self._set_active(self.max_arch())

    def member_arch(self, arch: Arch, i: int) -> Arch:
        """Member ``i``'s architecture in the base space."""
        return self.base_space.make(member_values(arch, self.base_space, self.adapter.stage_of, i))

    def _set_active(self, arch: Arch) -> None:
        self._k, self._split = members_of(arch), split_of(arch)
        for i in range(self._k):
            self.nets[i].set_arch(self.member_arch(arch, i))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The shared trunk's output (``x`` itself when nothing is shared); its gradient is divided by K."""
        if self._split == 0:
            return x
        h = self.adapter.forward_range(self.nets[0], x, 1, self._split)
        if h.requires_grad:
            h.register_hook(DivideGrad(self._k))
        return h

    def member_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each active member's logits, the trunk run once."""
        h = self.trunk(x)
        last = self.adapter.stages + 1
        return [self.adapter.forward_range(self.nets[i], h, self._split + 1, last) for i in range(self._k)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.stack(self.member_logits(x)).mean(0)

    def _export(self, arch: Arch) -> nn.Module:
        last = self.adapter.stages + 1
        trunk = self.adapter.export_range(self.nets[0], 1, self._split) if self._split else nn.Identity()
        heads = [self.adapter.export_range(self.nets[i], self._split + 1, last) for i in range(self._k)]
        return StaticEnsemble(trunk, heads)
