"""Weight sources ``slice`` and ``superpose`` (DESIGN §4) and the mixtures they are driven by.

*slice* (weight entanglement): the chosen width / kernel is a leading (or centred) slice of one
max-size tensor. *superpose* (TangleNAS): for architecture weights ``w_o`` over the options of a
dimension, the op's weight is ``sum_o w_o * zero_pad(slice_o(W))`` and the op is called once, at
the max size. Because convolutions and linear maps are linear in their weight, that single call
equals the explicit mixture ``sum_o w_o * zero_pad(op_o(x))``.

For one dimension the sum reduces to an elementwise mask of ``W``: index ``i`` of a leading
slice is kept by every option larger than ``i``, so its factor is the summed weight of those
options (:func:`prefix_mask`); a centred kernel crop gives :func:`centre_mask`. Independent
dimensions (channels and kernel) multiply, because the product of the per-dimension sums is the
sum over the product of options. :func:`superpose` is the literal sum, kept as the reference
that the masks are tested against.

An elastic op's active value for a dimension is either an ``int`` (a discrete subnet, sliced) or
a :class:`Mixture` (gradient-based search, superposed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

import torch
import torch.nn.functional as F

from nas.errors import invalid

__all__ = ["Mixture", "Active", "prefix_mask", "centre_mask", "superpose", "zero_pad", "is_mixture", "max_of"]


@dataclass(frozen=True, eq=False)
class Mixture:
    """Architecture weights over the integer options of one dimension.

    Attributes:
        options: The options (channel counts, kernel sizes, heads, depths), any order.
        weights: A 1-D tensor of non-negative weights, one per option (usually summing to one;
            it carries the gradient towards the architecture parameters).
    """

    options: tuple[int, ...]
    weights: torch.Tensor

    def __post_init__(self) -> None:
        if self.weights.dim() != 1 or self.weights.numel() != len(self.options):
            raise invalid("Mixture.weights", f"be a 1-D tensor of {len(self.options)} weights", tuple(self.weights.shape))
        if not self.options:
            raise invalid("Mixture.options", "be non-empty", self.options)

    @property
    def largest(self) -> int:
        """The largest option (the size the superposed op runs at)."""
        return max(self.options)

    def argmax(self) -> int:
        """The option with the largest weight (the derived discrete choice)."""
        return self.options[int(torch.argmax(self.weights.detach()))]


Active = Union[int, Mixture]


def is_mixture(value: Active) -> bool:
    """Whether an active value is a :class:`Mixture` (superposition) rather than one option."""
    return isinstance(value, Mixture)


def max_of(value: Active) -> int:
    """The size an op runs at for ``value``: the option itself, or a mixture's largest option."""
    return value.largest if isinstance(value, Mixture) else int(value)


def prefix_mask(value: Active, size: int) -> torch.Tensor:
    """Per-index factor of a leading-slice dimension of length ``size``.

    ``mask[i] = sum_o w_o * [i < options[o]]``; for an ``int`` value the 0/1 indicator.
    """
    idx = torch.arange(size)
    if not isinstance(value, Mixture):
        return (idx < int(value)).float()
    opts = torch.tensor(value.options)
    keep = (idx[None, :] < opts[:, None]).to(value.weights.dtype)  # (options, size)
    return value.weights @ keep


def centre_mask(value: Active, kernel: int, dims: int = 1) -> torch.Tensor:
    """Per-tap factor of a centred kernel crop over ``dims`` spatial axes (shape ``(kernel,)*dims``).

    For a mixture it is ``sum_o w_o * indicator_o`` where ``indicator_o`` marks the centred
    ``options[o]``-tap window on every axis (not the outer product of 1-D masks: the sum is over
    options, the window is square).
    """
    centre = kernel // 2
    dist = (torch.arange(kernel) - centre).abs()
    grid = dist
    for _ in range(dims - 1):
        grid = torch.maximum(grid[..., None], dist)  # Chebyshev distance to the centre
    if not isinstance(value, Mixture):
        return (grid <= int(value) // 2).float()
    opts = torch.tensor(value.options).view(-1, *([1] * dims))
    inside = (grid[None] <= opts // 2).to(value.weights.dtype)
    return torch.tensordot(value.weights, inside, dims=1)


def zero_pad(t: torch.Tensor, shape: Sequence[int], centred: Sequence[bool] | None = None) -> torch.Tensor:
    """Pads ``t`` with zeros to ``shape``: at the end of each axis, or around it when ``centred``."""
    centred = centred or [False] * t.dim()
    pads: list[int] = []
    for axis in reversed(range(t.dim())):
        extra = shape[axis] - t.shape[axis]
        if extra < 0:
            raise invalid("zero_pad.shape", f"be at least {tuple(t.shape)} on every axis", tuple(shape))
        before = extra // 2 if centred[axis] else 0
        pads += [before, extra - before]
    return F.pad(t, pads)


def superpose(weight: torch.Tensor, slices: Sequence[Callable[[torch.Tensor], torch.Tensor]],
              weights: torch.Tensor, centred: Sequence[bool] | None = None) -> torch.Tensor:
    """The literal superposition ``sum_o weights[o] * zero_pad(slices[o](weight))``.

    Args:
        weight: The max-size tensor.
        slices: One slicing function per option (leading slices and centred crops).
        weights: Architecture weights, one per option.
        centred: Per axis, whether its slices are centred crops (padded on both sides).
    """
    if len(slices) != weights.numel():
        raise invalid("superpose.weights", f"have one weight per slice ({len(slices)})", weights.numel())
    total = torch.zeros_like(weight)
    for w, take in zip(weights, slices):
        total = total + w * zero_pad(take(weight), weight.shape, centred)
    return total
