"""Elastic multi-head self-attention: heads and embedding dimension entangled in QKV and output.

The head width ``head_dim`` is fixed; ``heads`` selects leading heads, i.e. head-major leading
row blocks of each of the query, key and value projections and the matching leading column
blocks of the output projection. The embedding dimension ``embed`` selects leading input
features of the QKV projection and leading output rows of the output projection (AutoFormer).

Superposition, and what is exact:

* **heads**: a head's output does not depend on which other heads are active, so the mixture
  ``sum_h w_h * attn_h(x)`` equals one call with every head computed and the output projection's
  columns of head ``j`` scaled by the summed weight of the options that keep ``j``. Only the
  output projection is superposed; scaling the queries or keys would change the softmax. Exact.
* **embed**: the softmax of ``Q K^T`` is not linear in the input features, so a superposed QKV
  weight would not equal the mixture. The choices are batched instead: each option's masked
  input goes through one batched projection and one batched attention call, and the zero-padded
  outputs are summed with their weights. Exact, at ``len(options)`` times the cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import invalid
from nas.supernet.static import SelfAttention
from nas.supernet.superpose import Active, Mixture, max_of, prefix_mask

__all__ = ["ElasticSelfAttention"]


class ElasticSelfAttention(nn.Module):
    """Self-attention over ``(B, T, E)`` with elastic heads and embedding dimension.

    Args:
        max_embed: Largest embedding dimension.
        max_heads: Largest number of heads.
        head_dim: Width of one head (fixed).
        causal: Mask attention to earlier positions (language models).
    """

    def __init__(self, max_embed: int, max_heads: int, head_dim: int, causal: bool = True) -> None:
        super().__init__()
        inner = max_heads * head_dim
        qkv, proj = nn.Linear(max_embed, 3 * inner), nn.Linear(inner, max_embed)
        self.qkv_weight = nn.Parameter(qkv.weight.data.clone())
        self.qkv_bias = nn.Parameter(qkv.bias.data.clone())
        self.proj_weight = nn.Parameter(proj.weight.data.clone())
        self.proj_bias = nn.Parameter(proj.bias.data.clone())
        self.max_heads, self.head_dim, self.causal = max_heads, head_dim, causal
        self.active_embed: Active = max_embed
        self.active_heads: Active = max_heads

    def set_active(self, embed: Active, heads: Active) -> None:
        """Sets the active embedding dimension and heads (ints, or mixtures for superposition)."""
        self.active_embed, self.active_heads = embed, heads

    def _qkv_rows(self, heads: int) -> torch.Tensor:
        n, inner = heads * self.head_dim, self.max_heads * self.head_dim
        return torch.cat([torch.arange(i * inner, i * inner + n) for i in range(3)])

    def _attend(self, x: torch.Tensor, embed: int, heads: int) -> torch.Tensor:
        """Attention output before the output projection, ``(..., T, heads * head_dim)``."""
        rows = self._qkv_rows(heads)
        qkv = F.linear(x[..., :embed], self.qkv_weight[rows, :embed], self.qkv_bias[rows])
        *lead, t, _ = qkv.shape
        q, k, v = qkv.reshape(-1, t, 3, heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return out.transpose(1, 2).reshape(*lead, t, heads * self.head_dim)

    def _project(self, z: torch.Tensor, embed: int, heads: Active) -> torch.Tensor:
        h = max_of(heads)
        w, b = self.proj_weight[:embed, : h * self.head_dim], self.proj_bias[:embed]
        if isinstance(heads, Mixture):
            w = w * prefix_mask(heads, h).repeat_interleave(self.head_dim)[None, :]
            b = b * heads.weights.sum()
        return F.linear(z, w, b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = max_of(self.active_heads)
        if not isinstance(self.active_embed, Mixture):
            e = int(self.active_embed)
            return self._project(self._attend(x, e, h), e, self.active_heads)
        mix, e = self.active_embed, self.active_embed.largest
        keep = torch.stack([prefix_mask(o, e) for o in mix.options])  # (options, e)
        keep = keep.view(len(mix.options), *([1] * (x.dim() - 1)), e)
        ys = self._project(self._attend(x[None, ..., :e] * keep, e, h), e, self.active_heads) * keep
        return torch.tensordot(mix.weights, ys, dims=1)

    def export(self) -> SelfAttention:
        """A static :class:`~nas.supernet.static.SelfAttention` with copies of the active slices."""
        if isinstance(self.active_embed, Mixture) or isinstance(self.active_heads, Mixture):
            raise invalid("ElasticSelfAttention.export", "be called with discrete (int) active choices", "a mixture")
        e, h = int(self.active_embed), int(self.active_heads)
        rows, inner = self._qkv_rows(h), h * self.head_dim
        qkv, proj = nn.Linear(e, 3 * inner), nn.Linear(inner, e)
        qkv.weight.data.copy_(self.qkv_weight[rows, :e].detach())
        qkv.bias.data.copy_(self.qkv_bias[rows].detach())
        proj.weight.data.copy_(self.proj_weight[:e, :inner].detach())
        proj.bias.data.copy_(self.proj_bias[:e].detach())
        return SelfAttention(qkv, proj, h, self.head_dim, self.causal)
