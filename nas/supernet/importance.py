"""Channel ordering by importance before shrinking (OFA ``re_organize_middle_weights``).

Leading-slice entanglement keeps the first ``c`` channels of a layer for width ``c``. Sorting a
layer's channels so that the most important come first (importance: the L1 norm of the weights
that *read* each channel in the next layer) makes narrow subnets inherit the strongest channels.
The permutation is applied consistently to every tensor indexed by those channels (producer rows,
norm affine and statistics, depthwise filters, consumer columns), so the largest subnet computes
exactly the same function before and after. Call it between training phases: optimiser moments
are not permuted.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nas.errors import invalid

__all__ = ["channel_importance", "permute_channels"]


def channel_importance(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """L1 norm of ``weight`` over every axis except ``dim`` (one value per channel along ``dim``)."""
    if not -weight.dim() <= dim < weight.dim():
        raise invalid("dim", f"be an axis of a {weight.dim()}-D weight", dim)
    axes = [a for a in range(weight.dim()) if a != dim % weight.dim()]
    return weight.detach().abs().sum(dim=axes)


@torch.no_grad()
def permute_channels(perm: torch.Tensor, tensors: Sequence[tuple[torch.Tensor, int]]) -> None:
    """Reorders, in place, each ``(tensor, dim)`` along ``dim`` by ``perm`` (new i = old perm[i]).

    Only the leading ``len(perm)`` entries along ``dim`` are reordered, so a permutation of the
    active channels of a larger tensor is allowed.
    """
    n = perm.numel()
    if sorted(perm.tolist()) != list(range(n)):
        raise invalid("perm", f"be a permutation of range({n})", perm.tolist())
    for t, dim in tensors:
        head = t.narrow(dim, 0, n)
        head.copy_(head.index_select(dim, perm))
