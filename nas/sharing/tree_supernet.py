"""The searched supernet of a derived task tree: elastic width and kernel per tree node.

Every node of the :class:`~nas.sharing.tree.Tree` is an elastic conv → BN → ReLU (widths are
leading channel slices, kernels centred crops of one max weight) with its own choices
``l<layer>.n<node>.width`` and ``l<layer>.n<node>.kernel``; a node's input width is its parent's
active width. Each task head is an elastic linear layer over its parent's flattened features
(channel-major, so a narrower parent is a leading slice of the head's inputs). A node shared by
several tasks exists once, so the trunk is trained, evaluated and exported once.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.errors import invalid
from nas.sharing.tree import StaticTree, Tree, layer_strides, out_length
from nas.space import Arch, Choice, SearchSpace
from nas.supernet.base import Supernet
from nas.supernet.ops import ElasticBatchNorm1d, ElasticConv1d, ElasticLinear

__all__ = ["build_tree_space", "TreeSupernet", "node_label", "short_tree"]


def node_label(layer: int, node: int) -> str:
    """The label prefix of a tree node's choices (``l1.n0``)."""
    return f"l{layer}.n{node}"


def build_tree_space(tree: Tree, widths: tuple[int, ...], kernels: tuple[int, ...], name: str) -> SearchSpace:
    """The space over a derived tree: per node, a width and a kernel.

    Raises:
        ConfigError: for empty, unsorted or even-kernel options.
    """
    if not widths or list(widths) != sorted(set(widths)) or min(widths) < 1:
        raise invalid("widths", "be distinct positive integers in ascending order", widths)
    if not kernels or list(kernels) != sorted(set(kernels)) or any(k % 2 == 0 or k < 1 for k in kernels):
        raise invalid("kernels", "be distinct odd positive integers in ascending order", kernels)
    choices = []
    for l, layer in enumerate(tree.layers):
        for j in range(len(layer)):
            choices.append(Choice(f"{node_label(l, j)}.width", tuple(widths)))
            choices.append(Choice(f"{node_label(l, j)}.kernel", tuple(kernels)))
    return SearchSpace(name, choices)


def short_tree(tree: Tree, arch: Arch) -> str:
    """Compact form: per layer, ``w/k`` of each node, e.g. ``32/5 | 16/3 48/7``."""
    parts = []
    for l, layer in enumerate(tree.layers):
        parts.append(" ".join(f"{arch[node_label(l, j) + '.width']}/{arch[node_label(l, j) + '.kernel']}"
                              for j in range(len(layer))))
    return " | ".join(parts)


class _ElasticNode(nn.Module):
    def __init__(self, max_in: int, max_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv = ElasticConv1d(max_in, max_out, kernel, stride)
        self.bn = ElasticBatchNorm1d(max_out)
        self.act = nn.ReLU()

    def set_active(self, in_ch: int, out_ch: int, kernel: int) -> None:
        self.conv.set_active(in_ch, out_ch, kernel)
        self.bn.set_active(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def export(self) -> nn.Sequential:
        return nn.Sequential(self.conv.export(), self.bn.export(), nn.ReLU())


class TreeSupernet(Supernet):
    """Weight-entangled supernet over a derived task tree (output: the heads' logits concatenated).

    Args:
        space: From :func:`build_tree_space` for ``tree``.
        tree: The derived tree.
        in_channels: Input channels.
        length: Input length (divisible by the tree's total stride).
        heads: ``(name, classes)`` per task, in the tree's task order.
    """

    def __init__(self, space: SearchSpace, tree: Tree, in_channels: int, length: int,
                 heads: tuple[tuple[str, int], ...]) -> None:
        super().__init__(space)
        if tuple(n for n, _ in heads) != tree.tasks:
            raise invalid("heads", f"name the tree's tasks {list(tree.tasks)} in order", [n for n, _ in heads])
        self.tree, self.in_channels = tree, in_channels
        self.max_width = int(max(space.choice(f"{node_label(0, 0)}.width").options))  # type: ignore[type-var]
        kernel = int(max(space.choice(f"{node_label(0, 0)}.kernel").options))  # type: ignore[type-var]
        self.out_len = out_length(length, len(tree.layers))
        strides = layer_strides(len(tree.layers))
        self.labels = [node_label(l, j) for l, layer in enumerate(tree.layers) for j in range(len(layer))]
        self.layer_of = [l for l, layer in enumerate(tree.layers) for _ in layer]
        self.parents, self.head_parents = tree.flat()
        self.nodes = nn.ModuleList(
            _ElasticNode(in_channels if l == 0 else self.max_width, self.max_width, kernel, strides[l]) for l in self.layer_of)
        self.heads = nn.ModuleList(ElasticLinear(self.max_width * self.out_len, c) for _, c in heads)
        self._set_active(self.max_arch())

    def _set_active(self, arch: Arch) -> None:
        widths = [int(arch[f"{lab}.width"]) for lab in self.labels]
        for i, (node, p) in enumerate(zip(self.nodes, self.parents)):
            node.set_active(self.in_channels if p < 0 else widths[p], widths[i], int(arch[f"{self.labels[i]}.kernel"]))
        for head, p in zip(self.heads, self.head_parents):
            head.set_active(widths[p] * self.out_len, head.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        outs: list[torch.Tensor] = []
        for node, p in zip(self.nodes, self.parents):
            outs.append(node(x if p < 0 else outs[p]))
        return torch.cat([head(outs[p].flatten(1)) for head, p in zip(self.heads, self.head_parents)], dim=1)

    def _export(self, arch: Arch) -> nn.Module:
        return StaticTree([n.export() for n in self.nodes], self.parents, [h.export() for h in self.heads], self.head_parents)
