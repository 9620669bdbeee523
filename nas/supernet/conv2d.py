"""Elastic 2-D convolution: in/out channels are leading slices, the kernel a centred square crop.

Set the active slice with :meth:`ElasticConv2d.set_active` (ints: a discrete subnet; a
:class:`~nas.supernet.superpose.Mixture` for any dimension: the superposed weight at the max
size, one convolution call). :meth:`ElasticConv2d.export` returns a plain ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import invalid
from nas.supernet.superpose import Active, centre_mask, is_mixture, max_of, prefix_mask

__all__ = ["ElasticConv2d", "centre_crop2d"]


def centre_crop2d(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """Crops the two last (spatial) axes of a conv weight to ``kernel`` x ``kernel`` around the centre."""
    full = weight.shape[-1]
    if kernel > full or (full - kernel) % 2:
        raise invalid("kernel", f"be <= {full} with the same parity", kernel)
    s = (full - kernel) // 2
    return weight[..., s : s + kernel, s : s + kernel]


class ElasticConv2d(nn.Module):
    """A 2-D convolution (no bias) whose channels and kernel size are slices of the max weight.

    Args:
        max_in: Largest number of input channels.
        max_out: Largest number of output channels.
        max_kernel: Largest (odd) kernel size.
        stride: Stride (fixed).
    """

    def __init__(self, max_in: int, max_out: int, max_kernel: int, stride: int = 1) -> None:
        super().__init__()
        if max_kernel % 2 == 0:
            raise invalid("max_kernel", "be odd", max_kernel)
        self.weight = nn.Parameter(torch.empty(max_out, max_in, max_kernel, max_kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.stride = stride
        self.active_in: Active = max_in
        self.active_out: Active = max_out
        self.active_kernel: Active = max_kernel

    def set_active(self, in_ch: Active, out_ch: Active, kernel: Active) -> None:
        """Sets the active slice (called by the supernet, never by the op itself)."""
        self.active_in, self.active_out, self.active_kernel = in_ch, out_ch, kernel

    @property
    def superposed(self) -> bool:
        """Whether any dimension is a mixture."""
        return any(is_mixture(v) for v in (self.active_in, self.active_out, self.active_kernel))

    def active_weight(self) -> torch.Tensor:
        """The active weight: a view of the max weight, or the superposed weight for mixtures."""
        if not self.superposed:
            w = self.weight[: int(self.active_out), : int(self.active_in)]
            return centre_crop2d(w, int(self.active_kernel))
        c_out, c_in, k = max_of(self.active_out), max_of(self.active_in), max_of(self.active_kernel)
        w = centre_crop2d(self.weight[:c_out, :c_in], k)
        mask = (prefix_mask(self.active_out, c_out)[:, None, None, None]
                * prefix_mask(self.active_in, c_in)[None, :, None, None]
                * centre_mask(self.active_kernel, k, dims=2)[None, None])
        return w * mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        w = self.active_weight()
        return F.conv2d(x, w, None, self.stride, w.shape[-1] // 2)

    def export(self) -> nn.Conv2d:
        """A static ``nn.Conv2d`` holding a copy of the active slice (discrete choices only)."""
        if self.superposed:
            raise invalid("ElasticConv2d.export", "be called with discrete (int) active choices", "a mixture")
        k = int(self.active_kernel)
        conv = nn.Conv2d(int(self.active_in), int(self.active_out), k, self.stride, k // 2, bias=False)
        conv.weight.data.copy_(self.active_weight().detach())
        return conv
