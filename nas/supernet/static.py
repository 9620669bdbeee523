"""Static blocks that elastic ops export to when ``torch.nn`` has no equivalent.

Plain PyTorch only (no ShareNAS names inside the classes), registered as source templates so
that ``nas export`` can write them into a standalone ``model.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.export.templates import register_block

__all__ = ["SelfAttention", "SqueezeExcite", "TokenEmbedding"]


class SelfAttention(nn.Module):
    """Multi-head self-attention over ``(B, T, E)`` with a head width independent of ``E``.

    ``qkv`` maps ``E -> 3 * heads * head_dim`` (queries, keys, values, head-major), ``proj``
    maps ``heads * head_dim -> E``.
    """

    def __init__(self, qkv: nn.Linear, proj: nn.Linear, heads: int, head_dim: int, causal: bool) -> None:
        super().__init__()
        self.qkv, self.proj = qkv, proj
        self.heads, self.head_dim, self.causal = heads, head_dim, causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation over ``(B, C, H, W)``: channel gates from pooled features."""

    def __init__(self, reduce: nn.Conv2d, expand: nn.Conv2d) -> None:
        super().__init__()
        self.reduce, self.expand = reduce, expand

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(s))))


class TokenEmbedding(nn.Module):
    """Token plus position embedding of ids given as a float tensor ``(B, T)``.

    Ids come as floats so that generic tools feeding random float inputs (latency, MACs, ONNX)
    can run the model; they are truncated and clamped into the vocabulary.
    """

    def __init__(self, tokens: nn.Embedding, positions: nn.Embedding) -> None:
        super().__init__()
        self.tokens, self.positions = tokens, positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        idx = x.long().clamp(0, self.tokens.num_embeddings - 1)
        # the leading rows of the position table (a slice, not a lookup of arange(T)): same values, less work per call
        return self.tokens(idx) + self.positions.weight[: idx.shape[1]]


for _cls in (SelfAttention, SqueezeExcite, TokenEmbedding):
    register_block(_cls)
