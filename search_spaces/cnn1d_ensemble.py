"""``cnn1d`` as an ensemble base: its three stages as the segments a trunk can share.

Segment 1 is the stem plus stage 1's blocks (the stem's width is ``s1.width``), segments 2 and 3
are stages 2 and 3, segment 4 is the flatten + linear head. Labels ``s<j>.*`` belong to stage j.
The adapter reads the active blocks from the supernet's public ``active_arch`` and ``max_depth``.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.errors import invalid
from nas.sharing.ensemble import ENSEMBLE_BASES, EnsembleBase
from nas.supernet.base import Supernet
from search_spaces.cnn1d import STAGES, CNN1dSupernet

__all__ = ["Cnn1dStages"]


class Cnn1dStages(EnsembleBase):
    """Stage adapter of :class:`~search_spaces.cnn1d.CNN1dSupernet`."""

    stages = STAGES

    def stage_of(self, label: str) -> int:  # noqa: D102
        head = label.split(".", 1)[0]
        if not (head[:1] == "s" and head[1:].isdigit()):
            raise invalid("label", "start with a stage `s<j>.` in cnn1d", label)
        return int(head[1:])

    @staticmethod
    def _blocks(net: CNN1dSupernet, first: int, last: int) -> list[int]:
        arch = net.active_arch
        out = []
        for s in range(max(1, first), min(STAGES, last) + 1):
            out += [(s - 1) * net.max_depth + b for b in range(int(arch[f"s{s}.depth"]))]
        return out

    def forward_range(self, net: Supernet, x: torch.Tensor, first: int, last: int) -> torch.Tensor:  # noqa: D102
        _check_cnn1d(net)
        if first <= 1 <= last:
            x = net.stem(x)
        for idx in self._blocks(net, first, last):
            x = net.blocks[idx](x)
        if last > STAGES:
            x = net.head(x.flatten(1))
        return x

    def export_range(self, net: Supernet, first: int, last: int) -> nn.Module:  # noqa: D102
        _check_cnn1d(net)
        mods: list[nn.Module] = [net.stem.export()] if first <= 1 <= last else []
        mods += [net.blocks[idx].export() for idx in self._blocks(net, first, last)]
        if last > STAGES:
            mods += [nn.Flatten(), net.head.export()]
        return nn.Sequential(*mods)

    def segment_modules(self, net: Supernet, segment: int) -> list[nn.Module]:  # noqa: D102
        _check_cnn1d(net)
        if segment > STAGES:
            return [net.head]
        blocks = [net.blocks[(segment - 1) * net.max_depth + b] for b in range(net.max_depth)]
        return ([net.stem] if segment == 1 else []) + blocks


ENSEMBLE_BASES.add("cnn1d", Cnn1dStages())


def _check_cnn1d(net: Supernet) -> None:
    """Raises a ConfigError unless ``net`` is a cnn1d supernet (the only one this adapter drives)."""
    if not isinstance(net, CNN1dSupernet):
        raise invalid("supernet", "be a CNN1dSupernet for the cnn1d ensemble adapter", type(net).__name__)
