"""The ``cell1d`` space: a small enumerable 1-D cell (3 edges x 4 operations = 64 architectures).

Layout (input ``(B, 1, L)``, ``L`` divisible by 4)::

    stem   conv k5 1 -> C, BN, ReLU
    cell   n0 = input; n1 = e01(n0); n2 = e02(n0) + e12(n1); output n2
    pool   max-pool 2, then a second cell with the same genotype (its own weights), max-pool 2
    head   flatten (C x L/4) -> linear -> classes

Each edge chooses one of ``skip`` (identity), ``avgpool`` (3-tap average, no parameters),
``conv3`` and ``conv5`` (ReLU -> conv -> BN). ``conv3`` and ``conv5`` are weight-entangled: the
3-tap kernel is the centre crop of the edge's one 5-tap weight, and both use the edge's
BatchNorm, so they share every parameter of the edge (the interference gradient-matching
splits are meant to find). The space is small enough to train every architecture stand-alone,
which makes it the ground truth of ``nas bench gm-split``.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.catalog import SPACES, SpaceSpec
from nas.data import Task
from nas.errors import invalid
from nas.export.templates import register_block
from nas.space import Arch, Choice, SearchSpace
from nas.supernet.base import Supernet
from nas.supernet.ops import ElasticConv1d

__all__ = ["EDGES", "OPS", "build_cell1d_space", "Cell1dSupernet", "ConvOp", "StaticCell1d", "StaticCell1dNet",
           "short_cell1d"]

EDGES = ("e01", "e02", "e12")
OPS = ("skip", "avgpool", "conv3", "conv5")
CELLS = 2
WIDTH = 16
STEM_KERNEL = 5


def build_cell1d_space(name: str = "cell1d") -> SearchSpace:
    """The ``cell1d`` space: one operation per edge (``<edge>.op``), options in :data:`OPS`."""
    return SearchSpace(name, [Choice(f"{e}.op", OPS) for e in EDGES])


@register_block
class ConvOp(nn.Module):
    """Static edge convolution: ReLU -> conv -> BN."""

    def __init__(self, conv: nn.Conv1d, bn: nn.BatchNorm1d) -> None:
        super().__init__()
        self.conv, self.bn = conv, bn
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.bn(self.conv(self.act(x)))


@register_block
class StaticCell1d(nn.Module):
    """Static cell: ``n1 = e01(n0)``, ``n2 = e02(n0) + e12(n1)``."""

    def __init__(self, e01: nn.Module, e02: nn.Module, e12: nn.Module) -> None:
        super().__init__()
        self.e01, self.e02, self.e12 = e01, e02, e12

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.e02(x) + self.e12(self.e01(x))


@register_block
class StaticCell1dNet(nn.Module):
    """The exported, static form of a ``cell1d`` subnet."""

    def __init__(self, stem: nn.Sequential, cells: list[nn.Module], head: nn.Linear) -> None:
        super().__init__()
        self.stem, self.cells, self.head = stem, nn.ModuleList(cells), head
        self.pool = nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.stem(x)
        for cell in self.cells:
            x = self.pool(cell(x))
        return self.head(x.flatten(1))


def _avgpool() -> nn.AvgPool1d:
    return nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)


class _ElasticEdge(nn.Module):
    """One edge: parameter-free ``skip``/``avgpool``, or ``conv3``/``conv5`` cropped from one weight."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = ElasticConv1d(width, width, 5)
        self.bn = nn.BatchNorm1d(width)
        self.act = nn.ReLU()
        self.pool = _avgpool()
        self.width = width
        self.op = OPS[-1]

    def set_active(self, op: str) -> None:
        if op not in OPS:
            raise invalid("op", f"be one of {list(OPS)}", op)
        self.op = op
        if op.startswith("conv"):
            self.conv.set_active(self.width, self.width, int(op[4:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op == "skip":
            return x
        if self.op == "avgpool":
            return self.pool(x)
        return self.bn(self.conv(self.act(x)))

    def export(self) -> nn.Module:
        if self.op == "skip":
            return nn.Identity()
        if self.op == "avgpool":
            return _avgpool()
        bn = nn.BatchNorm1d(self.width, eps=self.bn.eps, momentum=self.bn.momentum)
        bn.load_state_dict(self.bn.state_dict())
        return ConvOp(self.conv.export(), bn)


class _ElasticCell(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict({e: _ElasticEdge(width) for e in EDGES})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.edges["e02"](x) + self.edges["e12"](self.edges["e01"](x))

    def export(self) -> StaticCell1d:
        return StaticCell1d(*(self.edges[e].export() for e in EDGES))


class Cell1dSupernet(Supernet):
    """Weight-entangled supernet of the ``cell1d`` space.

    Args:
        space: The space (from :func:`build_cell1d_space`, or a restriction of it).
        in_channels: Input channels.
        length: Input length (divisible by 4).
        num_classes: Output classes.
        width: Channels of the stem and the cells.
    """

    def __init__(self, space: SearchSpace, in_channels: int, length: int, num_classes: int, width: int = WIDTH) -> None:
        super().__init__(space)
        if length % 4:
            raise invalid("length", "be divisible by 4", length)
        self.stem = nn.Sequential(nn.Conv1d(in_channels, width, STEM_KERNEL, padding=STEM_KERNEL // 2, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU())
        self.cells = nn.ModuleList(_ElasticCell(width) for _ in range(CELLS))
        self.pool = nn.MaxPool1d(2)
        self.head = nn.Linear(width * (length // 4), num_classes)
        self._set_active(self.max_arch())

    def _set_active(self, arch: Arch) -> None:
        for cell in self.cells:
            for e in EDGES:
                cell.edges[e].set_active(str(arch[f"{e}.op"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.stem(x)
        for cell in self.cells:
            x = self.pool(cell(x))
        return self.head(x.flatten(1))

    def owned_parameters(self, label: str) -> tuple[str, ...]:
        """Name prefixes of the parameters that only the choice ``label`` selects between (its
        edges in every cell); gradient matching measures the gradients sent to the *other* weights."""
        edge = label.split(".", 1)[0]
        if edge not in EDGES:
            raise invalid("label", f"name an edge of {list(EDGES)}", label)
        return tuple(f"cells.{i}.edges.{edge}." for i in range(len(self.cells)))

    def _export(self, arch: Arch) -> nn.Module:
        stem = nn.Sequential(*(_copy(m) for m in self.stem))
        head = nn.Linear(self.head.in_features, self.head.out_features)
        head.load_state_dict(self.head.state_dict())
        return StaticCell1dNet(stem, [c.export() for c in self.cells], head)


def _copy(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.Conv1d):
        out: nn.Module = nn.Conv1d(module.in_channels, module.out_channels, module.kernel_size[0],
                                   padding=module.padding[0], bias=module.bias is not None)
    elif isinstance(module, nn.BatchNorm1d):
        out = nn.BatchNorm1d(module.num_features, eps=module.eps, momentum=module.momentum)
    else:
        return nn.ReLU()
    out.load_state_dict(module.state_dict())
    return out


def short_cell1d(arch: Arch) -> str:
    """Compact form, the edges' operations in order, e.g. ``conv5|skip|avgpool``."""
    return "|".join(str(arch[f"{e}.op"]) for e in EDGES)


def _build(space: SearchSpace, task: Task) -> Cell1dSupernet:
    channels, length = task.input_shape
    return Cell1dSupernet(space, channels, length, task.num_classes)


SPACES.add(
    "cell1d",
    SpaceSpec(
        name="cell1d",
        build_space=build_cell1d_space,
        tasks=("mnist1d",),
        build_supernet=_build,
        description="1-D cell, 3 edges x {skip, avgpool, conv3, conv5} (64 archs; conv3/conv5 share a weight)",
        short=short_cell1d,
    ),
)
