"""Elastic operations: they only slice one max-size weight; the active choice is set from outside.

Widths are leading channel slices, kernels are centred crops (OFA / AutoFormer weight
entanglement). Each op can ``export()`` its active configuration as a plain ``torch.nn`` module
whose weights are copies of the active slices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.supernet.superpose import Active, Mixture, centre_mask, max_of, prefix_mask

__all__ = ["ElasticConv1d", "ElasticBatchNorm1d", "ElasticLinear", "centre_crop", "copy_bn_slices"]


def centre_crop(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """Crops the last dimension of a conv weight to ``kernel`` taps around its centre."""
    full = weight.shape[-1]
    if kernel > full or (full - kernel) % 2:
        raise ValueError(f"`kernel` must be <= {full} with the same parity, got {kernel}")
    start = (full - kernel) // 2
    return weight[..., start : start + kernel]


class ElasticConv1d(nn.Module):
    """A 1-D convolution whose in/out channels and kernel size are slices of the max weight.

    Args:
        max_in: Largest number of input channels.
        max_out: Largest number of output channels.
        max_kernel: Largest (odd) kernel size.
        stride: Stride (fixed).
    """

    def __init__(self, max_in: int, max_out: int, max_kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_out, max_in, max_kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.stride = stride
        self.active_in, self.active_out, self.active_kernel = max_in, max_out, max_kernel

    def set_active(self, in_ch: Active, out_ch: Active, kernel: Active) -> None:
        """Sets the active slice (called by the supernet, never by the op itself); mixtures
        superpose the weight (see :mod:`nas.supernet.superpose`)."""
        self.active_in, self.active_out, self.active_kernel = in_ch, out_ch, kernel

    def active_weight(self) -> torch.Tensor:
        """The active slice (a view sharing storage with the max weight), or the superposed weight."""
        c_out, c_in, k = max_of(self.active_out), max_of(self.active_in), max_of(self.active_kernel)
        w = centre_crop(self.weight[:c_out, :c_in], k)
        if not any(isinstance(v, Mixture) for v in (self.active_in, self.active_out, self.active_kernel)):
            return w
        return w * (prefix_mask(self.active_out, c_out)[:, None, None] * prefix_mask(self.active_in, c_in)[None, :, None]
                    * centre_mask(self.active_kernel, k)[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.active_weight()
        return F.conv1d(x[:, : w.shape[1]], w, None, self.stride, w.shape[-1] // 2)

    def export(self) -> nn.Conv1d:
        """A static ``nn.Conv1d`` holding a copy of the active slice (discrete choices only)."""
        if any(isinstance(v, Mixture) for v in (self.active_in, self.active_out, self.active_kernel)):
            raise ValueError("`ElasticConv1d.export` must be called with discrete (int) active choices, got a mixture")
        k = self.active_kernel
        conv = nn.Conv1d(self.active_in, self.active_out, k, self.stride, k // 2, bias=False)
        conv.weight.data.copy_(self.active_weight().detach())
        return conv


class ElasticBatchNorm1d(nn.Module):
    """BatchNorm whose affine parameters and running statistics are leading channel slices.

    In training mode, the running statistics of the active slice are updated in place, so the
    shared buffers hold statistics mixed over sampled subnets; evaluation recalibrates them per
    subnet (see :func:`nas.supernet.calibrate.recalibrate_bn`).
    """

    def __init__(self, max_ch: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(max_ch))
        self.bias = nn.Parameter(torch.zeros(max_ch))
        self.register_buffer("running_mean", torch.zeros(max_ch))
        self.register_buffer("running_var", torch.ones(max_ch))
        self.momentum, self.eps = momentum, eps
        self.active = max_ch

    def set_active(self, ch: Active) -> None:
        """Sets the number of active channels (a mixture gives ``BN(x) * prefix_mask``: exact,
        since each channel is normalised on its own)."""
        self.active = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = max_of(self.active)
        out = F.batch_norm(
            x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
            self.training, self.momentum, self.eps,
        )
        if isinstance(self.active, Mixture):
            out = out * prefix_mask(self.active, c).view(1, c, *([1] * (x.dim() - 2)))
        return out

    def export(self) -> nn.BatchNorm1d:
        """A static ``nn.BatchNorm1d`` with copies of the active slices."""
        return copy_bn_slices(self, nn.BatchNorm1d(self.active, eps=self.eps, momentum=self.momentum))


def copy_bn_slices(src: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> nn.modules.batchnorm._BatchNorm:
    """Copies the leading ``bn.num_features`` slices of ``src``'s affine and running statistics."""
    c = bn.num_features
    bn.weight.data.copy_(src.weight[:c].detach())
    bn.bias.data.copy_(src.bias[:c].detach())
    bn.running_mean.copy_(src.running_mean[:c])
    bn.running_var.copy_(src.running_var[:c])
    return bn


class ElasticLinear(nn.Module):
    """A linear layer whose in/out features are leading slices of the max weight."""

    def __init__(self, max_in: int, max_out: int, bias: bool = True) -> None:
        super().__init__()
        ref = nn.Linear(max_in, max_out, bias=bias)
        self.weight = nn.Parameter(ref.weight.data.clone())
        self.bias = nn.Parameter(ref.bias.data.clone()) if bias else None
        self.active_in, self.active_out = max_in, max_out

    def set_active(self, in_features: Active, out_features: Active) -> None:
        """Sets the active slice (ints, or mixtures: then the weight is superposed, see
        :mod:`nas.supernet.superpose`; the bias is scaled by the input mixture's total weight so
        that the single call equals the explicit mixture of the sliced layers)."""
        self.active_in, self.active_out = in_features, out_features

    def active_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The active weight and bias: views of the max tensors, or their superposition."""
        n_out, n_in = max_of(self.active_out), max_of(self.active_in)
        w = self.weight[:n_out, :n_in]
        b = self.bias[:n_out] if self.bias is not None else None
        if isinstance(self.active_out, Mixture):
            m = prefix_mask(self.active_out, n_out)
            w, b = w * m[:, None], (b * m if b is not None else None)
        if isinstance(self.active_in, Mixture):
            w = w * prefix_mask(self.active_in, n_in)[None, :]
            b = b * self.active_in.weights.sum() if b is not None else None
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.active_params()
        return F.linear(x[..., : w.shape[1]], w, b)

    def export(self) -> nn.Linear:
        """A static ``nn.Linear`` with copies of the active slices."""
        if isinstance(self.active_in, Mixture) or isinstance(self.active_out, Mixture):
            raise ValueError("`ElasticLinear.export` must be called with discrete (int) active choices, got a mixture")
        lin = nn.Linear(self.active_in, self.active_out, bias=self.bias is not None)
        lin.weight.data.copy_(self.weight[: self.active_out, : self.active_in].detach())
        if self.bias is not None:
            lin.bias.data.copy_(self.bias[: self.active_out].detach())
        return lin
