"""The ``tinylm`` space: a tiny pre-LN transformer character language model.

Choices: global embedding dimension ``embed`` {32, 48, 64} and ``depth`` {1, 2, 3}; per layer
``l{i}.heads`` {1, 2, 4} (head width 16) and ``l{i}.mlp`` ratio {2, 3, 4} (hidden = ratio x
embed). Every weight is a leading slice of one max tensor (AutoFormer entanglement); attention
heads and the embedding are entangled in the QKV and output projections
(:class:`~nas.supernet.attention.ElasticSelfAttention`).

Inputs are token ids as floats ``(B, T)``; logits are ``(B, vocab, T)`` so that cross-entropy,
distillation and top-1 accuracy (next-character accuracy) work unchanged; the evaluator adds
bits per character (``bpc``) for sequence targets.

Superposition (:meth:`TinyLMSupernet.set_mixture`): every op takes its mixture (embedding in the
embeddings, norms, attention, MLP and head; heads in attention; depth over block outputs); the
MLP hidden width mixes over the products ``embed x ratio`` with product weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nas.catalog import SPACES, SpaceSpec
from nas.data import Task
from nas.export.templates import register_block
from nas.space import Arch, Choice, Condition, SearchSpace
from nas.supernet.attention import ElasticSelfAttention
from nas.supernet.base import Supernet
from nas.supernet.depth import ElasticDepth
from nas.supernet.norm import ElasticLayerNorm
from nas.supernet.ops import ElasticLinear
from nas.supernet.static import TokenEmbedding
from nas.supernet.superpose import Active, Mixture, max_of, prefix_mask

__all__ = ["build_tinylm_space", "TinyLMSupernet", "TransformerBlock", "StaticTinyLM", "short_tinylm"]

EMBEDS = (32, 48, 64)
DEPTHS = (1, 2, 3)
HEADS = (1, 2, 4)
MLP_RATIOS = (2, 3, 4)
HEAD_DIM = 16


def build_tinylm_space() -> SearchSpace:
    """Global embedding and depth, per layer heads and MLP ratio."""
    choices = [Choice("embed", EMBEDS), Choice("depth", DEPTHS)]
    for i in range(1, max(DEPTHS) + 1):
        when = None if i == 1 else Condition("depth", i)
        choices += [Choice(f"l{i}.heads", HEADS, when), Choice(f"l{i}.mlp", MLP_RATIOS, when)]
    return SearchSpace("tinylm", choices)


@register_block
class TransformerBlock(nn.Module):
    """Static pre-LN transformer block: ``x + attn(ln1(x))`` then ``x + fc2(gelu(fc1(ln2(x))))``.

    The MLP's layers are direct children and GELU a function call: at batch 1 every extra module
    call (a ``Sequential``, a ``GELU`` module) is measurable latency.
    """

    def __init__(self, ln1: nn.LayerNorm, attn: nn.Module, ln2: nn.LayerNorm, fc1: nn.Linear, fc2: nn.Linear) -> None:
        super().__init__()
        self.ln1, self.attn, self.ln2, self.fc1, self.fc2 = ln1, attn, ln2, fc1, fc2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


@register_block
class StaticTinyLM(nn.Module):
    """The exported, static form of a ``tinylm`` subnet; logits are ``(B, vocab, T)``."""

    def __init__(self, embed: nn.Module, blocks: list[nn.Module], ln_f: nn.LayerNorm, head: nn.Linear) -> None:
        super().__init__()
        self.embed, self.blocks, self.ln_f, self.head = embed, nn.Sequential(*blocks), ln_f, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.embed(x)
        for block in self.blocks:  # one by one: a Sequential call is measurable at batch 1
            x = block(x)
        return self.head(self.ln_f(x)).transpose(1, 2)


class _ElasticEmbedding(nn.Module):
    def __init__(self, vocab: int, length: int, max_embed: int) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(vocab, max_embed) * 0.02)
        self.positions = nn.Parameter(torch.randn(length, max_embed) * 0.02)
        self.active: Active = max_embed

    def set_active(self, embed: Active) -> None:
        self.active = embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = max_of(self.active)
        idx = x.long().clamp(0, self.tokens.shape[0] - 1)
        out = F.embedding(idx, self.tokens[:, :e]) + self.positions[: idx.shape[1], :e][None]
        return out * prefix_mask(self.active, e) if isinstance(self.active, Mixture) else out

    def export(self) -> TokenEmbedding:
        e = int(self.active)
        tok, pos = nn.Embedding(self.tokens.shape[0], e), nn.Embedding(self.positions.shape[0], e)
        tok.weight.data.copy_(self.tokens[:, :e].detach())
        pos.weight.data.copy_(self.positions[:, :e].detach())
        return TokenEmbedding(tok, pos)


class _ElasticBlock(nn.Module):
    def __init__(self, max_embed: int) -> None:
        super().__init__()
        hidden = max_embed * max(MLP_RATIOS)
        self.ln1, self.ln2 = ElasticLayerNorm(max_embed), ElasticLayerNorm(max_embed)
        self.attn = ElasticSelfAttention(max_embed, max(HEADS), HEAD_DIM, causal=True)
        self.fc1, self.fc2 = ElasticLinear(max_embed, hidden), ElasticLinear(hidden, max_embed)

    def set_active(self, embed: Active, heads: Active, ratio: Active) -> None:
        if isinstance(embed, Mixture) or isinstance(ratio, Mixture):
            e_mix = embed if isinstance(embed, Mixture) else Mixture((int(embed),), torch.ones(1))
            r_mix = ratio if isinstance(ratio, Mixture) else Mixture((int(ratio),), torch.ones(1))
            hidden: Active = Mixture(tuple(e * r for e in e_mix.options for r in r_mix.options),
                                     torch.outer(e_mix.weights, r_mix.weights).flatten())
        else:
            hidden = int(embed) * int(ratio)
        self.ln1.set_active(embed)
        self.ln2.set_active(embed)
        self.attn.set_active(embed, heads)
        self.fc1.set_active(embed, hidden)
        self.fc2.set_active(hidden, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    def export(self) -> TransformerBlock:
        return TransformerBlock(self.ln1.export(), self.attn.export(), self.ln2.export(), self.fc1.export(),
                                self.fc2.export())


class TinyLMSupernet(Supernet):
    """Weight-entangled supernet of the ``tinylm`` space.

    Args:
        space: The space from :func:`build_tinylm_space`.
        vocab: Vocabulary size (classes).
        length: Sequence length.
    """

    def __init__(self, space: SearchSpace, vocab: int, length: int) -> None:
        super().__init__(space)
        e = max(EMBEDS)
        self.embed = _ElasticEmbedding(vocab, length, e)
        self.layers = ElasticDepth([_ElasticBlock(e) for _ in range(max(DEPTHS))], min_depth=min(DEPTHS))
        self.ln_f = ElasticLayerNorm(e)
        self.head = ElasticLinear(e, vocab)
        self._set_active(self.max_arch())

    def _set_active(self, arch: Arch) -> None:
        self._apply({label: arch.get(label, self.space.choice(label).options[0]) for label in self.space.labels})

    def set_mixture(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Activates the superposed supernet: ``weights[label]`` over that label's options."""
        self._apply({c.label: Mixture(tuple(int(o) for o in c.options), weights[c.label]) for c in self.space.choices})
        self._active = None

    def _apply(self, v: Mapping[str, Active]) -> None:
        embed = v["embed"]
        self.embed.set_active(embed)
        self.layers.set_active(v["depth"])
        for i, block in enumerate(self.layers.blocks, start=1):
            block.set_active(embed, v[f"l{i}.heads"], v[f"l{i}.mlp"])
        self.ln_f.set_active(embed)
        self.head.set_active(embed, self.head.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(self.ln_f(self.layers(self.embed(x)))).transpose(1, 2)

    def _export(self, arch: Arch) -> nn.Module:
        return StaticTinyLM(self.embed.export(), list(self.layers.export()), self.ln_f.export(), self.head.export())


def short_tinylm(arch: Arch) -> str:
    """Compact form: ``e<embed> h<heads per layer> m<ratios>``, e.g. ``e48 h24 m32``."""
    d = int(arch["depth"])
    hs = "".join(str(arch[f"l{i}.heads"]) for i in range(1, d + 1))
    ms = "".join(str(arch[f"l{i}.mlp"]) for i in range(1, d + 1))
    return f"e{arch['embed']} h{hs} m{ms}"


def tinylm_features(arch: Arch) -> list[float]:
    """Structural predictor features: depth, embedding, summed heads, summed MLP width."""
    d, e = int(arch["depth"]), int(arch["embed"])
    heads = sum(int(arch[f"l{i}.heads"]) for i in range(1, d + 1))
    mlp = sum(int(arch[f"l{i}.mlp"]) * e for i in range(1, d + 1))
    return [float(d), float(e), float(heads), float(mlp)]


def _build(space: SearchSpace, task: Task) -> TinyLMSupernet:
    return TinyLMSupernet(space, task.num_classes, task.input_shape[0])


SPACES.add(
    "tinylm",
    SpaceSpec(
        name="tinylm",
        build_space=build_tinylm_space,
        tasks=("pydoc-text",),
        build_supernet=_build,
        description="tiny transformer char-LM: embed, depth, per layer heads and MLP ratio",
        short=short_tinylm,
        metrics=("accuracy", "test_accuracy", "bpc", "latency_ms", "params", "macs"),
        features=tinylm_features,
        default_epochs=3,
    ),
)
