"""A multi-task tree: which tasks share which layers (Learning to Branch's derived network).

A :class:`Tree` has conv layers bottom up; every kept node of layer ``l`` names its parent node
in layer ``l - 1`` (layer 0 nodes read the input), and every task head names its parent node in
the last layer. Every node is reached by at least one task (derivation prunes the others).

:class:`StaticTree` is the plain module of a tree (also what ``nas export`` writes): nodes run in
order, each on the input or an earlier node's output, so a trunk segment that several tasks share
is computed and stored once; the output is the concatenation of the heads' logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.errors import ConfigError, invalid
from nas.export.templates import register_block

__all__ = ["Tree", "StaticTree", "conv_node", "derive_tree", "layer_strides", "out_length", "build_static_tree"]


@dataclass(frozen=True)
class Tree:
    """A derived task tree.

    Attributes:
        layers: Per conv layer (bottom up), the parent index of each kept node in the layer below
            (``-1`` for layer 0: the input).
        heads: Per task, the index of its parent node in the last layer.
        tasks: Task (head) names, in output order.
    """

    layers: tuple[tuple[int, ...], ...]
    heads: tuple[int, ...]
    tasks: tuple[str, ...]

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(f"`tree` must be a valid task tree, got: {'; '.join(problems)}")

    def problems(self) -> list[str]:
        """What is wrong with the tree (empty when valid)."""
        out: list[str] = []
        if not self.layers or any(not layer for layer in self.layers):
            return ["every layer must keep at least one node"]
        if len(self.heads) != len(self.tasks) or not self.tasks:
            out.append(f"one head per task is required, got {len(self.heads)} heads for {len(self.tasks)} tasks")
        if any(p != -1 for p in self.layers[0]):
            out.append(f"layer 0 nodes must read the input (parent -1), got {list(self.layers[0])}")
        sizes = [len(layer) for layer in self.layers]
        for l in range(1, len(self.layers)):
            if any(not 0 <= p < sizes[l - 1] for p in self.layers[l]):
                out.append(f"layer {l} parents must index layer {l - 1}'s {sizes[l - 1]} nodes, got {list(self.layers[l])}")
        if any(not 0 <= p < sizes[-1] for p in self.heads):
            out.append(f"heads must index the last layer's {sizes[-1]} nodes, got {list(self.heads)}")
        if not out:
            used = self.users()
            unused = [f"l{l}.n{j}" for l, size in enumerate(sizes) for j in range(size) if not used[(l, j)]]
            if unused:
                out.append(f"every node must be reached by a task, got unreached {unused}")
        return out

    def paths(self) -> list[tuple[int, ...]]:
        """Per task, its node index at each layer (bottom up)."""
        out = []
        for head in self.heads:
            path = [head]
            for l in range(len(self.layers) - 1, 0, -1):
                path.append(self.layers[l][path[-1]])
            out.append(tuple(reversed(path)))
        return out

    def users(self) -> dict[tuple[int, int], tuple[str, ...]]:
        """``(layer, node)`` → the tasks whose path runs through it."""
        found: dict[tuple[int, int], list[str]] = {(l, j): [] for l, layer in enumerate(self.layers) for j in range(len(layer))}
        for task, path in zip(self.tasks, self.paths()):
            for l, j in enumerate(path):
                if (l, j) in found:
                    found[(l, j)].append(task)
        return {k: tuple(v) for k, v in found.items()}

    def first_split(self) -> tuple[int | None, tuple[int, ...]]:
        """The lowest layer where the tasks' paths differ and each task's node there.

        Returns ``(None, (0, ..., 0))`` when all tasks share every layer.
        """
        paths = self.paths()
        for l in range(len(self.layers)):
            labels = tuple(p[l] for p in paths)
            if len(set(labels)) > 1:
                return l, labels
        return None, tuple(0 for _ in paths)

    def flat(self) -> tuple[list[int], list[int]]:
        """Global node order (layer by layer): each node's global parent (-1: input) and each head's."""
        starts, total = [], 0
        for layer in self.layers:
            starts.append(total)
            total += len(layer)
        parents = [p if l == 0 else starts[l - 1] + p for l, layer in enumerate(self.layers) for p in layer]
        return parents, [starts[-1] + h for h in self.heads]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"layers": [list(layer) for layer in self.layers], "heads": list(self.heads), "tasks": list(self.tasks)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        """Rebuilds a tree from :meth:`to_dict` output.

        Raises:
            ConfigError: if keys are missing or the tree is invalid.
        """
        try:
            return cls(tuple(tuple(int(p) for p in layer) for layer in data["layers"]),
                       tuple(int(h) for h in data["heads"]), tuple(str(t) for t in data["tasks"]))
        except (KeyError, TypeError) as e:
            raise invalid("tree", "be a mapping with layers, heads and tasks", repr(data)[:200]) from e

    @classmethod
    def shared(cls, depth: int, tasks: tuple[str, ...]) -> Tree:
        """All tasks share every layer (one chain of ``depth`` nodes)."""
        return cls(((-1,),) + ((0,),) * (depth - 1), (0,) * len(tasks), tasks)

    @classmethod
    def separate(cls, depth: int, tasks: tuple[str, ...]) -> Tree:
        """Every task has its own chain of ``depth`` nodes (nothing shared)."""
        n = len(tasks)
        return cls(((-1,) * n,) + (tuple(range(n)),) * (depth - 1), tuple(range(n)), tasks)


def derive_tree(parents: list[list[int]], heads: list[int], tasks: tuple[str, ...]) -> Tree:
    """The tree of chosen parents with the nodes no task reaches pruned and the rest renumbered.

    Args:
        parents: Per layer, the chosen parent of every node (layer 0: ignored, the input).
        heads: Per task, its chosen node in the last layer.
        tasks: Task names.
    """
    keep = [set() for _ in parents]
    keep[-1] = set(heads)
    for l in range(len(parents) - 1, 0, -1):
        keep[l - 1] = {parents[l][j] for j in keep[l]}
    index = [{j: i for i, j in enumerate(sorted(k))} for k in keep]
    layers = [tuple(-1 for _ in sorted(keep[0]))]
    for l in range(1, len(parents)):
        layers.append(tuple(index[l - 1][parents[l][j]] for j in sorted(keep[l])))
    return Tree(tuple(layers), tuple(index[-1][h] for h in heads), tuple(tasks))


def layer_strides(depth: int) -> tuple[int, ...]:
    """Stride of each conv layer: 1 for the first, 2 for the next two, 1 after (length / 4 at most)."""
    return tuple(2 if 1 <= l <= 2 else 1 for l in range(depth))


def out_length(length: int, depth: int) -> int:
    """Feature length after the tree's layers.

    Raises:
        ConfigError: if ``length`` does not divide by the layers' total stride.
    """
    total = 1
    for s in layer_strides(depth):
        total *= s
    if length % total:
        raise invalid("length", f"be divisible by {total} (the tree's total stride)", length)
    return length // total


def conv_node(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.Sequential:
    """One static tree node: conv (no bias) → BatchNorm → ReLU."""
    return nn.Sequential(nn.Conv1d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False), nn.BatchNorm1d(out_ch), nn.ReLU())


class StaticTree(nn.Module):
    """A task tree as a plain module: shared nodes run once; output = the heads' logits concatenated.

    Args:
        nodes: Node modules in global order (layer by layer).
        parents: Per node, the global index of its parent node (``-1``: the input).
        heads: One classifier per task over its parent node's flattened output.
        head_parents: Per head, the global index of its parent node.
    """

    def __init__(self, nodes: list[nn.Module], parents: list[int], heads: list[nn.Module], head_parents: list[int]) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(nodes)
        self.parents = list(parents)
        self.heads = nn.ModuleList(heads)
        self.head_parents = list(head_parents)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        outs: list[torch.Tensor] = []
        for node, p in zip(self.nodes, self.parents):
            outs.append(node(x if p < 0 else outs[p]))
        return torch.cat([head(outs[p].flatten(1)) for head, p in zip(self.heads, self.head_parents)], dim=1)


register_block(StaticTree)


def build_static_tree(tree: Tree, in_channels: int, length: int, heads: tuple[tuple[str, int], ...],
                      width: int, kernel: int) -> StaticTree:
    """A freshly initialised :class:`StaticTree` of ``tree`` with one width and kernel for every node.

    Raises:
        ConfigError: if ``heads`` do not name the tree's tasks in order, or ``length`` does not divide.
    """
    if tuple(n for n, _ in heads) != tree.tasks:
        raise invalid("heads", f"name the tree's tasks {list(tree.tasks)} in order", [n for n, _ in heads])
    strides = layer_strides(len(tree.layers))
    parents, head_parents = tree.flat()
    nodes = [conv_node(in_channels if l == 0 else width, width, kernel, strides[l])
             for l, layer in enumerate(tree.layers) for _ in layer]
    feat = width * out_length(length, len(tree.layers))
    return StaticTree(nodes, parents, [nn.Linear(feat, c) for _, c in heads], head_parents)
