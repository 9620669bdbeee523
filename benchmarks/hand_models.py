"""Static models written by hand, one per trainable space: the yardstick of the export latency benchmark.

Each class rebuilds a subnet from its architecture dictionary with plain ``torch.nn`` code that
owes nothing to the exporter's generated source (no ShareNAS block classes), then takes the
exported weights in order (:meth:`load_from`: same tensors, same order, shapes checked). If the
exported ``model.py`` were slower than this code, the generator would be adding overhead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HandCNN1d", "HandMBConv", "HandTinyLM", "HAND_MODELS", "load_weights_in_order"]


def load_weights_in_order(model: nn.Module, source: nn.Module) -> nn.Module:
    """Copies ``source``'s tensors into ``model`` in registration order (shapes must agree)."""
    mine, theirs = model.state_dict(), source.state_dict()
    if [tuple(v.shape) for v in mine.values()] != [tuple(v.shape) for v in theirs.values()]:
        raise ValueError(f"`source` must be the same architecture as {type(model).__name__}, got tensors of other shapes: "
                         f"{[tuple(v.shape) for v in theirs.values()][:6]} vs {[tuple(v.shape) for v in mine.values()][:6]}")
    model.load_state_dict(dict(zip(mine.keys(), theirs.values())))
    return model.eval()


class HandCNN1d(nn.Module):
    """A cnn1d subnet written by hand: a flat list of conv, BN, conv, BN, ... and a linear head.

    Args:
        arch: The architecture's choices (``s{s}.depth``, ``s{s}.width``, ``s{s}.b{b}.kernel``).
        in_channels: Input channels.
        length: Input length.
        num_classes: Output classes.
    """

    def __init__(self, arch: dict[str, Any], in_channels: int = 1, length: int = 40, num_classes: int = 10) -> None:
        super().__init__()
        width = int(arch["s1.width"])
        self.ops = nn.ModuleList([nn.Conv1d(in_channels, width, 5, padding=2, bias=False), nn.BatchNorm1d(width)])
        self.residual: list[bool] = [False]
        for s in (1, 2, 3):
            out = int(arch[f"s{s}.width"])
            for b in range(1, int(arch[f"s{s}.depth"]) + 1):
                k = int(arch[f"s{s}.b{b}.kernel"])
                stride = 2 if (b == 1 and s > 1) else 1
                self.ops.append(nn.Conv1d(width, out, k, stride=stride, padding=k // 2, bias=False))
                self.ops.append(nn.BatchNorm1d(out))
                self.residual.append(b > 1)
                width = out
        self.head = nn.Linear(width * (length // 4), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        for conv, bn, res in zip(self.ops[0::2], self.ops[1::2], self.residual):
            out = F.relu(bn(conv(x)))
            x = x + out if res else out
        return self.head(x.flatten(1))

    def load_from(self, module: nn.Module) -> HandCNN1d:
        """Copies the weights of an exported cnn1d module (same tensors, in the same order)."""
        return load_weights_in_order(self, module)  # type: ignore[return-value]


class HandMBConv(nn.Module):
    """An mbconv subnet written by hand: stem, inverted-residual blocks as flat layer lists, head.

    Per block: 1x1 expand + BN + ReLU, depthwise kxk + BN + ReLU, optional squeeze-excite
    (two 1x1 convs with bias, reduced width ``max(4, 6 * c_in // 8)``), 1x1 project + BN, and a
    residual when stride is 1 and the width does not change.

    Args:
        arch: ``s{s}.depth``, ``s{s}.se``, ``s{s}.b{b}.kernel``, ``s{s}.b{b}.expand``.
        in_channels: Input channels.
        image_size: Input height (= width); the stem has stride 2 from 16 pixels up.
        num_classes: Output classes.
    """

    WIDTHS, STRIDES, STEM, MAX_EXPAND = (8, 16, 24), (2, 2, 1), 8, 6

    def __init__(self, arch: dict[str, Any], in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, self.STEM, 3, stride=2 if image_size >= 16 else 1, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(self.STEM)
        self.blocks = nn.ModuleList()
        self.flags: list[tuple[bool, bool]] = []  # (squeeze-excite, residual) per block
        c_in = self.STEM
        for s, (width, stride) in enumerate(zip(self.WIDTHS, self.STRIDES), start=1):
            se = bool(int(arch[f"s{s}.se"]))
            for b in range(1, int(arch[f"s{s}.depth"]) + 1):
                k, hidden = int(arch[f"s{s}.b{b}.kernel"]), c_in * int(arch[f"s{s}.b{b}.expand"])
                st = stride if b == 1 else 1
                layers = [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                          nn.Conv2d(hidden, hidden, k, stride=st, padding=k // 2, groups=hidden, bias=False),
                          nn.BatchNorm2d(hidden)]
                if se:
                    reduced = max(4, c_in * self.MAX_EXPAND // 8)
                    layers += [nn.Conv2d(hidden, reduced, 1), nn.Conv2d(reduced, hidden, 1)]
                layers += [nn.Conv2d(hidden, width, 1, bias=False), nn.BatchNorm2d(width)]
                self.blocks.append(nn.ModuleList(layers))
                self.flags.append((se, st == 1 and c_in == width))
                c_in = width
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = F.relu(self.stem_bn(self.stem(x)))
        for layers, (se, residual) in zip(self.blocks, self.flags):
            h = F.relu(layers[1](layers[0](x)))
            h = F.relu(layers[3](layers[2](h)))
            if se:
                gate = torch.sigmoid(layers[5](F.relu(layers[4](h.mean(dim=(2, 3), keepdim=True)))))
                h = h * gate
            out = layers[-1](layers[-2](h))
            x = x + out if residual else out
        return self.head(x.mean(dim=(2, 3)))

    def load_from(self, module: nn.Module) -> HandMBConv:
        """Copies the weights of an exported mbconv module (same tensors, in the same order)."""
        return load_weights_in_order(self, module)  # type: ignore[return-value]


class HandTinyLM(nn.Module):
    """A tinylm subnet written by hand: embeddings, pre-LN causal transformer layers, head.

    Attention uses one fused QKV projection laid out ``(3, heads, 16)`` per token and
    :func:`torch.nn.functional.scaled_dot_product_attention`; logits come out ``(B, vocab, T)``.

    Args:
        arch: ``embed``, ``depth``, ``l{i}.heads``, ``l{i}.mlp``.
        vocab: Vocabulary size.
        length: Sequence length (positions).
    """

    HEAD_DIM = 16

    def __init__(self, arch: dict[str, Any], vocab: int = 96, length: int = 64) -> None:
        super().__init__()
        e = int(arch["embed"])
        self.tok, self.pos = nn.Embedding(vocab, e), nn.Embedding(length, e)
        self.layers = nn.ModuleList()
        self.heads: list[int] = []
        for i in range(1, int(arch["depth"]) + 1):
            h, hidden = int(arch[f"l{i}.heads"]), e * int(arch[f"l{i}.mlp"])
            self.layers.append(nn.ModuleList([
                nn.LayerNorm(e), nn.Linear(e, 3 * h * self.HEAD_DIM), nn.Linear(h * self.HEAD_DIM, e),
                nn.LayerNorm(e), nn.Linear(e, hidden), nn.Linear(hidden, e)]))
            self.heads.append(h)
        self.norm, self.out = nn.LayerNorm(e), nn.Linear(e, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # noqa: D102
        idx = ids.long().clamp(0, self.tok.num_embeddings - 1)
        b, t = idx.shape
        x = self.tok(idx) + self.pos.weight[:t]
        for (ln1, qkv, proj, ln2, fc1, fc2), h in zip(self.layers, self.heads):
            q, k, v = qkv(ln1(x)).reshape(b, t, 3, h, self.HEAD_DIM).unbind(2)
            att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
            x = x + proj(att.transpose(1, 2).reshape(b, t, h * self.HEAD_DIM))
            x = x + fc2(F.gelu(fc1(ln2(x))))
        return self.out(self.norm(x)).transpose(1, 2)

    def load_from(self, module: nn.Module) -> HandTinyLM:
        """Copies the weights of an exported tinylm module (same tensors, in the same order)."""
        return load_weights_in_order(self, module)  # type: ignore[return-value]


def _cnn1d(arch: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    return HandCNN1d(arch, shape[0], shape[1], classes)


def _mbconv(arch: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    return HandMBConv(arch, shape[0], shape[1], classes)


def _tinylm(arch: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    return HandTinyLM(arch, classes, shape[0])


# space -> builder(arch dict, task input shape, classes)
HAND_MODELS = {"cnn1d": _cnn1d, "mbconv": _mbconv, "tinylm": _tinylm}
