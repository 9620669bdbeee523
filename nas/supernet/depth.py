"""Elastic depth: a stage of blocks whose later blocks are skipped.

The active depth ``d`` runs the first ``d`` blocks (OFA: later blocks of a stage are dropped, the
earlier ones keep their weights). With a :class:`~nas.supernet.superpose.Mixture` over depths
the stage runs its deepest option once and returns ``sum_d w_d * x_d``, where ``x_d`` is the
output after ``d`` blocks: the explicit mixture of the stage's depth choices, exactly, since the
shallower outputs are intermediate results of the deepest one. Blocks are set from outside
(by the supernet) and must have ``export()``.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.errors import invalid
from nas.supernet.superpose import Active, Mixture, max_of

__all__ = ["ElasticDepth"]


class ElasticDepth(nn.Module):
    """A sequence of blocks of which the first ``depth`` run.

    Args:
        blocks: The blocks of the deepest configuration, in order.
        min_depth: The smallest allowed depth (at least 1).
    """

    def __init__(self, blocks: list[nn.Module], min_depth: int = 1) -> None:
        super().__init__()
        if not 1 <= min_depth <= len(blocks):
            raise invalid("min_depth", f"be in [1, {len(blocks)}]", min_depth)
        self.blocks = nn.ModuleList(blocks)
        self.min_depth = min_depth
        self.active_depth: Active = len(blocks)

    def set_active(self, depth: Active) -> None:
        """Sets the active depth (an int, or a mixture over depths)."""
        for d in depth.options if isinstance(depth, Mixture) else (int(depth),):
            if not self.min_depth <= d <= len(self.blocks):
                raise invalid("depth", f"be in [{self.min_depth}, {len(self.blocks)}]", d)
        self.active_depth = depth

    @property
    def active_blocks(self) -> list[nn.Module]:
        """The blocks that run (for a mixture: up to its deepest option)."""
        return list(self.blocks[: max_of(self.active_depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not isinstance(self.active_depth, Mixture):
            for block in self.active_blocks:
                x = block(x)
            return x
        weight_at = dict(zip(self.active_depth.options, self.active_depth.weights))
        out = None
        for d, block in enumerate(self.active_blocks, start=1):
            x = block(x)
            if d in weight_at:
                out = weight_at[d] * x if out is None else out + weight_at[d] * x
        return out

    def export(self) -> nn.Sequential:
        """The active blocks, each exported, as an ``nn.Sequential`` (discrete depth only)."""
        if isinstance(self.active_depth, Mixture):
            raise invalid("ElasticDepth.export", "be called with a discrete (int) active depth", "a mixture")
        return nn.Sequential(*(b.export() for b in self.active_blocks))
