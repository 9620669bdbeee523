"""Elastic depthwise convolution (1-D or 2-D): channels a leading slice, kernel a centred crop.

A depthwise convolution has one filter per channel (``groups == channels``), so the channel
choice slices the filters and the kernel choice crops each of them. With mixtures the weight is
superposed (channel prefix mask times centred kernel mask) and the op runs once at max size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import invalid
from nas.supernet.superpose import Active, centre_mask, is_mixture, max_of, prefix_mask

__all__ = ["ElasticDepthwiseConv"]


def _crop(weight: torch.Tensor, kernel: int, dims: int) -> torch.Tensor:
    full = weight.shape[-1]
    if kernel > full or (full - kernel) % 2:
        raise invalid("kernel", f"be <= {full} with the same parity", kernel)
    s = (full - kernel) // 2
    index = (slice(None), slice(None)) + (slice(s, s + kernel),) * dims
    return weight[index]


class ElasticDepthwiseConv(nn.Module):
    """Depthwise convolution (no bias) with elastic channels and kernel size.

    Args:
        max_channels: Largest number of channels.
        max_kernel: Largest (odd) kernel size.
        stride: Stride (fixed).
        dims: Spatial dimensions, 1 or 2.
    """

    def __init__(self, max_channels: int, max_kernel: int, stride: int = 1, dims: int = 2) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise invalid("dims", "be 1 or 2", dims)
        if max_kernel % 2 == 0:
            raise invalid("max_kernel", "be odd", max_kernel)
        self.dims, self.stride = dims, stride
        self.weight = nn.Parameter(torch.empty(max_channels, 1, *([max_kernel] * dims)))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.active_channels: Active = max_channels
        self.active_kernel: Active = max_kernel

    def set_active(self, channels: Active, kernel: Active) -> None:
        """Sets the active channels and kernel (ints, or mixtures for superposition)."""
        self.active_channels, self.active_kernel = channels, kernel

    @property
    def superposed(self) -> bool:
        """Whether any dimension is a mixture."""
        return is_mixture(self.active_channels) or is_mixture(self.active_kernel)

    def active_weight(self) -> torch.Tensor:
        """The active filters: a view, or the superposed max-size filters for mixtures."""
        c, k = max_of(self.active_channels), max_of(self.active_kernel)
        w = _crop(self.weight[:c], k, self.dims)
        if not self.superposed:
            return w
        mask = prefix_mask(self.active_channels, c).view(c, 1, *([1] * self.dims))
        return w * mask * centre_mask(self.active_kernel, k, self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        w = self.active_weight()
        conv = F.conv1d if self.dims == 1 else F.conv2d
        return conv(x, w, None, self.stride, w.shape[-1] // 2, 1, w.shape[0])

    def export(self) -> nn.Module:
        """A static ``nn.Conv1d``/``nn.Conv2d`` with ``groups == channels`` (discrete choices only)."""
        if self.superposed:
            raise invalid("ElasticDepthwiseConv.export", "be called with discrete (int) active choices", "a mixture")
        c, k = int(self.active_channels), int(self.active_kernel)
        cls = nn.Conv1d if self.dims == 1 else nn.Conv2d
        conv = cls(c, c, k, self.stride, k // 2, groups=c, bias=False)
        conv.weight.data.copy_(self.active_weight().detach())
        return conv
