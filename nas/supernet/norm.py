"""Elastic normalisation: BatchNorm2d (sliced affine and running statistics) and LayerNorm.

BatchNorm normalises each channel on its own, so a channel prefix of BN is BN of the prefix and
a mixture over channel counts is exactly ``BN(x) * prefix_mask``. LayerNorm normalises over the
active features, so each option has its own statistics: a mixture computes them per option (a
handful of reductions) and sums the zero-padded normalised outputs, which is exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import invalid
from nas.supernet.ops import copy_bn_slices
from nas.supernet.superpose import Active, Mixture, max_of, prefix_mask

__all__ = ["ElasticBatchNorm2d", "ElasticLayerNorm"]


class ElasticBatchNorm2d(nn.Module):
    """BatchNorm over ``(B, C, H, W)`` whose affine parameters and statistics are channel slices.

    In training mode the running statistics of the active slice are updated in place (mixed over
    sampled subnets); evaluation recalibrates them per subnet
    (:func:`nas.supernet.calibrate.recalibrate_bn`).
    """

    def __init__(self, max_ch: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(max_ch))
        self.bias = nn.Parameter(torch.zeros(max_ch))
        self.register_buffer("running_mean", torch.zeros(max_ch))
        self.register_buffer("running_var", torch.ones(max_ch))
        self.momentum, self.eps = momentum, eps
        self.active: Active = max_ch

    def set_active(self, ch: Active) -> None:
        """Sets the active channels (an int, or a mixture over channel counts)."""
        self.active = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        c = max_of(self.active)
        out = F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                           self.training, self.momentum, self.eps)
        if isinstance(self.active, Mixture):
            out = out * prefix_mask(self.active, c).view(1, c, *([1] * (x.dim() - 2)))
        return out

    def export(self) -> nn.BatchNorm2d:
        """A static ``nn.BatchNorm2d`` with copies of the active slices."""
        if isinstance(self.active, Mixture):
            raise invalid("ElasticBatchNorm2d.export", "be called with a discrete (int) active width", "a mixture")
        return copy_bn_slices(self, nn.BatchNorm2d(int(self.active), eps=self.eps, momentum=self.momentum))


class ElasticLayerNorm(nn.Module):
    """LayerNorm over the last axis whose normalised width and affine parameters are leading slices."""

    def __init__(self, max_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(max_dim))
        self.bias = nn.Parameter(torch.zeros(max_dim))
        self.eps = eps
        self.active: Active = max_dim

    def set_active(self, dim: Active) -> None:
        """Sets the active width (an int, or a mixture over widths)."""
        self.active = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not isinstance(self.active, Mixture):
            d = int(self.active)
            return F.layer_norm(x[..., :d], (d,), self.weight[:d], self.bias[:d], self.eps)
        d = self.active.largest
        x = x[..., :d]
        normed = torch.zeros_like(x)
        for option, w in zip(self.active.options, self.active.weights):
            part = F.layer_norm(x[..., :option], (option,), None, None, self.eps)
            normed = normed + w * F.pad(part, (0, d - option))
        return normed * self.weight[:d] + self.bias[:d] * prefix_mask(self.active, d)

    def export(self) -> nn.LayerNorm:
        """A static ``nn.LayerNorm`` with copies of the active affine slices."""
        if isinstance(self.active, Mixture):
            raise invalid("ElasticLayerNorm.export", "be called with a discrete (int) active width", "a mixture")
        d = int(self.active)
        ln = nn.LayerNorm(d, eps=self.eps)
        ln.weight.data.copy_(self.weight[:d].detach())
        ln.bias.data.copy_(self.bias[:d].detach())
        return ln
