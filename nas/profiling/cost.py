"""Cheap cost metrics of a static module: parameter count and FLOPs (multiply-accumulates)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_params", "count_macs"]


def count_params(module: nn.Module) -> int:
    """Number of parameters (each shared tensor counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of convolutions and linear layers for one input (batch 1)."""
    total = 0

    def conv_hook(m: nn.modules.conv._ConvNd, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        per_out = (m.in_channels // m.groups) * int(torch.tensor(m.kernel_size).prod())
        total += per_out * out[0].numel()

    def linear_hook(m: nn.Linear, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * out[0].numel()

    handles = []
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = module.training
    module.eval()
    try:
        module(torch.randn((1, *input_shape)))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return int(total)
