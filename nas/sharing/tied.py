"""The ``tied`` weight source: a layer reuses another layer's weight, optionally plus a low-rank delta.

``TiedWeight(target, rank=r).materialize()`` returns ``target.weight`` when ``r == 0`` (the very
same tensor: gradients reach the target) and ``target.weight + (B @ A).view_as(target.weight)``
otherwise, a LoRA-style correction with ``B`` of shape ``(out, r)`` and ``A`` of shape
``(r, fan_in)``. ``B`` starts at zero, so a freshly tied layer computes exactly what its target
computes; only ``A`` and ``B`` are the tied layer's own parameters (``r * (out + fan_in)``).

The target module is referenced, not registered: the tied layer's ``state_dict`` holds only its
delta, the target's weight is stored once (by its owner), and pickling the enclosing network
(Ray workers) keeps the reference because both travel in one pickle.

:class:`TiedConv1d` and :class:`TiedLinear` are layers built on the source; ``export()`` gives a
plain ``nn.Conv1d`` / ``nn.Linear`` with the materialised weight (its own copy when a delta
exists, else a parameter shared with the exported target when one is passed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import invalid

__all__ = ["TiedWeight", "TiedConv1d", "TiedLinear"]


class TiedWeight(nn.Module):
    """Weight source that reuses ``getattr(target, attr)`` plus an optional rank-``rank`` delta.

    Args:
        target: The module whose weight is reused (not registered as a child).
        attr: The parameter's attribute name on ``target``.
        rank: Rank of the low-rank correction (0: the weight is reused exactly).
        generator: Seeded generator for ``A``'s initialisation (``None``: torch's default).

    Raises:
        ConfigError: if ``target`` has no tensor ``attr`` or ``rank`` is negative or too large.
    """

    def __init__(self, target: nn.Module, attr: str = "weight", rank: int = 0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        weight = getattr(target, attr, None)
        if not isinstance(weight, torch.Tensor):
            raise invalid("attr", f"name a tensor of the target {type(target).__name__}", attr)
        out, fan_in = weight.shape[0], weight[0].numel()
        if not 0 <= rank <= min(out, fan_in):
            raise invalid("rank", f"be in [0, {min(out, fan_in)}] for a {tuple(weight.shape)} weight", rank)
        self.__dict__["_target"] = target  # a reference, not a child: stored once, by its owner
        self.attr, self.rank = attr, rank
        if rank:
            a = torch.empty(rank, fan_in)
            bound = 1.0 / math.sqrt(fan_in)
            a.uniform_(-bound, bound, generator=generator)
            self.lora_a = nn.Parameter(a)
            self.lora_b = nn.Parameter(torch.zeros(out, rank))

    @property
    def target(self) -> nn.Module:
        """The module whose weight is reused."""
        return self.__dict__["_target"]

    def base(self) -> torch.Tensor:
        """The target's weight (the same tensor object)."""
        return getattr(self.target, self.attr)

    def delta(self) -> torch.Tensor | None:
        """The low-rank correction ``B @ A`` in the weight's shape (``None`` when ``rank == 0``)."""
        if not self.rank:
            return None
        w = self.base()
        return (self.lora_b @ self.lora_a).view_as(w)

    def materialize(self) -> torch.Tensor:
        """The tied weight: the target's weight, plus the delta when ``rank > 0``."""
        d = self.delta()
        return self.base() if d is None else self.base() + d

    def extra_repr(self) -> str:
        return f"tied_to={type(self.target).__name__}.{self.attr}, rank={self.rank}"


class _TiedLayer(nn.Module):
    """A layer whose weight comes from a :class:`TiedWeight`; bias (if any) from the target."""

    def __init__(self, target: nn.Module, rank: int, generator: torch.Generator | None) -> None:
        super().__init__()
        self.source = TiedWeight(target, "weight", rank, generator)

    @property
    def bias(self) -> torch.Tensor | None:
        """The target's bias (shared, not a delta)."""
        return getattr(self.source.target, "bias", None)

    def _static(self, fresh: nn.Module, shared_with: nn.Module | None) -> nn.Module:
        with torch.no_grad():
            if self.source.rank == 0 and shared_with is not None:
                fresh.weight = shared_with.weight  # tied in the export as well: stored once
                if self.bias is not None:
                    fresh.bias = shared_with.bias
                return fresh
            fresh.weight.copy_(self.source.materialize())
            if self.bias is not None:
                fresh.bias.copy_(self.bias)
        return fresh


class TiedConv1d(_TiedLayer):
    """``nn.Conv1d`` semantics with the weight of ``target`` (an ``nn.Conv1d``) plus a delta.

    Args:
        target: The convolution whose weight (and bias) are reused.
        rank: Rank of the low-rank correction (0: exact reuse).
        generator: Seeded generator for the delta's initialisation.
    """

    def __init__(self, target: nn.Conv1d, rank: int = 0, generator: torch.Generator | None = None) -> None:
        if not isinstance(target, nn.Conv1d):
            raise invalid("target", "be an nn.Conv1d", type(target).__name__)
        super().__init__(target, rank, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        t: nn.Conv1d = self.source.target  # type: ignore[assignment]
        return F.conv1d(x, self.source.materialize(), self.bias, t.stride, t.padding, t.dilation, t.groups)

    def export(self, shared_with: nn.Conv1d | None = None) -> nn.Conv1d:
        """A plain ``nn.Conv1d`` (weight shared with ``shared_with`` when rank is 0 and it is given)."""
        t: nn.Conv1d = self.source.target  # type: ignore[assignment]
        fresh = nn.Conv1d(t.in_channels, t.out_channels, t.kernel_size[0], t.stride[0], t.padding[0],  # type: ignore[arg-type]
                          t.dilation[0], t.groups, bias=t.bias is not None)
        return self._static(fresh, shared_with)  # type: ignore[return-value]


class TiedLinear(_TiedLayer):
    """``nn.Linear`` semantics with the weight of ``target`` (an ``nn.Linear``) plus a delta.

    Args:
        target: The linear layer whose weight (and bias) are reused.
        rank: Rank of the low-rank correction (0: exact reuse).
        generator: Seeded generator for the delta's initialisation.
    """

    def __init__(self, target: nn.Linear, rank: int = 0, generator: torch.Generator | None = None) -> None:
        if not isinstance(target, nn.Linear):
            raise invalid("target", "be an nn.Linear", type(target).__name__)
        super().__init__(target, rank, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.linear(x, self.source.materialize(), self.bias)

    def export(self, shared_with: nn.Linear | None = None) -> nn.Linear:
        """A plain ``nn.Linear`` (weight shared with ``shared_with`` when rank is 0 and it is given)."""
        t: nn.Linear = self.source.target  # type: ignore[assignment]
        fresh = nn.Linear(t.in_features, t.out_features, bias=t.bias is not None)
        return self._static(fresh, shared_with)  # type: ignore[return-value]
