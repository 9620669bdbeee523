"""The ``cnn1d`` space: a staged 1-D CNN with elastic depth, width and kernel size.

Layout (input ``(B, C_in, L)``)::

    stem   conv k5 C_in -> w1, BN, ReLU
    stage s (s = 1..3): depth d_s in {1,2,3} blocks of conv(k_{s,b}) BN ReLU; the first block of
           stages 2 and 3 has stride 2, later blocks of a stage are residual
    head   flatten (w3 x L/4) -> linear -> classes

Widths are leading channel slices of one max weight, kernels centred crops, BN sliced (or,
with ``bn_per_width``, one BatchNorm per width option: separate statistics and affine parameters
per width, the interference fix of DESIGN §8). The flattened head keeps channel-major order, so a
narrower last stage is a leading slice of the head's input features as well.

Variants (narrower widths, fewer depths or kernels) keep the same labels, so the default space's
architecture ids never change.
"""

from __future__ import annotations

from torch import nn

from nas.catalog import SPACES, SpaceSpec
from nas.data import Task
from nas.errors import invalid
from nas.export.templates import register_block
from nas.space import Arch, Choice, Condition, SearchSpace
from nas.supernet.base import Supernet
from nas.supernet.ops import ElasticBatchNorm1d, ElasticConv1d, ElasticLinear

__all__ = ["build_cnn1d_space", "CNN1dSupernet", "StaticBlock", "StaticCNN1d", "short_cnn1d"]

STAGES = 3
DEPTHS = (1, 2, 3)
WIDTHS = (8, 16, 32, 48)
KERNELS = (3, 5, 7)
STEM_KERNEL = 5


def build_cnn1d_space(widths: tuple[int, ...] = WIDTHS, kernels: tuple[int, ...] = KERNELS,
                      depths: tuple[int, ...] = DEPTHS, name: str = "cnn1d") -> SearchSpace:
    """The ``cnn1d`` search space (per stage depth and width, per block kernel).

    Args:
        widths: Channel options of every stage, ascending.
        kernels: Odd kernel options of every block, ascending.
        depths: Block-count options of every stage, ascending, starting at 1.
        name: Space name (a variant may carry its own).

    Raises:
        ConfigError: if the options are not ascending, or depths do not start at 1.
    """
    for label, opts in (("widths", widths), ("kernels", kernels), ("depths", depths)):
        if not opts or list(opts) != sorted(set(opts)) or min(opts) < 1:
            raise invalid(label, "be distinct positive integers in ascending order", opts)
    if any(k % 2 == 0 for k in kernels):
        raise invalid("kernels", "be odd", kernels)
    if depths[0] != 1:
        raise invalid("depths", "start at 1 (later blocks are conditioned on the depth)", depths)
    choices: list[Choice] = []
    for s in range(1, STAGES + 1):
        choices.append(Choice(f"s{s}.depth", tuple(depths)))
        choices.append(Choice(f"s{s}.width", tuple(widths)))
        for b in range(1, max(depths) + 1):
            when = None if b == 1 else Condition(f"s{s}.depth", b)
            choices.append(Choice(f"s{s}.b{b}.kernel", tuple(kernels), when))
    return SearchSpace(name, choices)


class StaticBlock(nn.Module):
    """conv → BN → ReLU, with a residual connection when ``residual`` is set."""

    def __init__(self, conv: nn.Conv1d, bn: nn.BatchNorm1d, residual: bool) -> None:
        super().__init__()
        self.conv, self.bn, self.residual = conv, bn, residual
        self.act = nn.ReLU()

    def forward(self, x):  # noqa: D102
        out = self.act(self.bn(self.conv(x)))
        return x + out if self.residual else out


class StaticCNN1d(nn.Module):
    """The exported, static form of a ``cnn1d`` subnet."""

    def __init__(self, stem: StaticBlock, stages: list[nn.Sequential], head: nn.Linear) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.flatten = nn.Flatten()
        self.head = head

    def forward(self, x):  # noqa: D102
        return self.head(self.flatten(self.stages(self.stem(x))))


# Written into an export's model.py by their own source (see nas.export.templates).
register_block(StaticBlock)
register_block(StaticCNN1d)


class _PerWidthBatchNorm1d(nn.Module):
    """One BatchNorm per width option (switchable BN): statistics and affine never shared."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.bns = nn.ModuleDict({str(w): nn.BatchNorm1d(w) for w in widths})
        self.active = max(widths)

    def set_active(self, ch: int) -> None:
        if str(ch) not in self.bns:
            raise invalid("width", f"be one of {list(self.bns)}", ch)
        self.active = ch

    def forward(self, x):
        return self.bns[str(self.active)](x)

    def export(self) -> nn.BatchNorm1d:
        src = self.bns[str(self.active)]
        bn = nn.BatchNorm1d(self.active, eps=src.eps, momentum=src.momentum)
        bn.load_state_dict(src.state_dict())
        return bn


class _ElasticBlock(nn.Module):
    def __init__(self, max_in: int, max_out: int, stride: int, residual: bool, kernel: int,
                 bn_widths: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.conv = ElasticConv1d(max_in, max_out, kernel, stride)
        self.bn = _PerWidthBatchNorm1d(bn_widths) if bn_widths else ElasticBatchNorm1d(max_out)
        self.residual = residual
        self.act = nn.ReLU()

    def set_active(self, in_ch: int, out_ch: int, kernel: int) -> None:
        self.conv.set_active(in_ch, out_ch, kernel)
        self.bn.set_active(out_ch)

    def forward(self, x):
        out = self.act(self.bn(self.conv(x)))
        return x + out if self.residual else out

    def export(self) -> StaticBlock:
        return StaticBlock(self.conv.export(), self.bn.export(), self.residual)


class CNN1dSupernet(Supernet):
    """Weight-entangled supernet of the ``cnn1d`` space.

    Args:
        space: The space (from :func:`build_cnn1d_space`, possibly with other widths/kernels).
        in_channels: Input channels.
        length: Input length (must be divisible by 4).
        num_classes: Output classes.
        bn_per_width: One BatchNorm per width option instead of one sliced BatchNorm.
    """

    def __init__(self, space: SearchSpace, in_channels: int, length: int, num_classes: int,
                 bn_per_width: bool = False) -> None:
        super().__init__(space)
        if length % 4:
            raise invalid("length", "be divisible by 4", length)
        widths = tuple(int(w) for w in space.choice("s1.width").options)  # type: ignore[arg-type]
        self.max_width = max(widths)
        self.max_depth = int(max(space.choice("s1.depth").options))  # type: ignore[type-var]
        kernel = int(max(space.choice("s1.b1.kernel").options))  # type: ignore[type-var]
        self.in_channels, self.out_length = in_channels, length // 4
        bn_widths = widths if bn_per_width else None
        self.stem = _ElasticBlock(in_channels, self.max_width, 1, False, STEM_KERNEL, bn_widths)
        self.blocks = nn.ModuleList()
        for s in range(1, STAGES + 1):
            for b in range(1, self.max_depth + 1):
                stride = 2 if (b == 1 and s > 1) else 1
                self.blocks.append(_ElasticBlock(self.max_width, self.max_width, stride, b > 1, kernel, bn_widths))
        self.head = ElasticLinear(self.max_width * self.out_length, num_classes)
        self._plan: list[tuple[int, int]] = []  # (block index, stage) of active blocks
        self._set_active(self.max_arch())

    def _set_active(self, arch: Arch) -> None:
        width = int(arch["s1.width"])
        self.stem.set_active(self.in_channels, width, STEM_KERNEL)
        self._plan = []
        for s in range(1, STAGES + 1):
            w_out = int(arch[f"s{s}.width"])
            for b in range(1, int(arch[f"s{s}.depth"]) + 1):
                idx = (s - 1) * self.max_depth + (b - 1)
                self.blocks[idx].set_active(width, w_out, int(arch[f"s{s}.b{b}.kernel"]))
                self._plan.append((idx, s))
                width = w_out
        self.head.set_active(width * self.out_length, self.head.weight.shape[0])

    def forward(self, x):  # noqa: D102
        x = self.stem(x)
        for idx, _ in self._plan:
            x = self.blocks[idx](x)
        return self.head(x.flatten(1))

    def _export(self, arch: Arch) -> nn.Module:
        stages: list[list[nn.Module]] = [[] for _ in range(STAGES)]
        for idx, s in self._plan:
            stages[s - 1].append(self.blocks[idx].export())
        return StaticCNN1d(self.stem.export(), [nn.Sequential(*m) for m in stages], self.head.export())


def short_cnn1d(arch: Arch) -> str:
    """Compact form: per stage ``d<depth>w<width>k<kernels>``, e.g. ``d2w32k35 d1w16k7 d3w48k333``."""
    parts = []
    for s in range(1, STAGES + 1):
        d = int(arch[f"s{s}.depth"])
        ks = "".join(str(arch[f"s{s}.b{b}.kernel"]) for b in range(1, d + 1))
        parts.append(f"d{d}w{arch[f's{s}.width']}k{ks}")
    return " ".join(parts)


def _build(space: SearchSpace, task: Task) -> CNN1dSupernet:
    channels, length = task.input_shape
    return CNN1dSupernet(space, channels, length, task.num_classes)


SPACES.add(
    "cnn1d",
    SpaceSpec(
        name="cnn1d",
        build_space=build_cnn1d_space,
        tasks=("mnist1d",),
        build_supernet=_build,
        description="staged 1-D CNN: per stage depth {1,2,3} and width, per block kernel {3,5,7}",
        short=short_cnn1d,
    ),
)
