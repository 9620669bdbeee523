"""The ``mbconv`` space: MobileNetV2/V3-style inverted-residual blocks for small images.

Layout (input ``(B, 1, H, W)``)::

    stem   conv3x3 (stride 2 when H >= 16) 1 -> 8, BN, ReLU
    stage s (s = 1..3, widths 8/16/24, strides 2/2/1): depth d_s in {1,2,3} MBConv blocks
           expand 1x1 (ratio e in {3,4,6}) BN ReLU -> depthwise kxk (k in {3,5,7}) BN ReLU
           -> [squeeze-excite when s{s}.se] -> project 1x1 BN; blocks after a stage's first
           are residual
    head   global average pool -> linear -> classes

Elastic widths (a variant, ``build_mbconv_space(widths=...)``): every stage gets a ``s{s}.width``
choice over the same channel options; a block's input and output channels, and its hidden
channels (``expand * input``), are leading slices of the max tensors, the head's input features
too. The registered space has no width choice (8/16/24 fixed), so its architecture ids never
change; the variant serves where capacity must vary (the ranking benchmark, DESIGN §5).

Superposition (gradient-based mode, :meth:`MBConvSupernet.set_mixture`): kernels mix in the
depthwise weight; expand ratios mix as one hidden-channel mask applied before the project conv
(every hidden channel's path is independent until there, so this is the exact mixture of the
block's expand choices, SE aside: SE pools across channels and runs at the largest width); SE is
``w_on * se(h) + w_off * h``; depth mixes stage outputs; a width mixture masks the stage's output
channels (project conv and BN, exact for that op) and the next stage runs at the largest width.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nas.catalog import SPACES, SpaceSpec
from nas.data import Task
from nas.errors import invalid
from nas.export.templates import register_block
from nas.space import Arch, Choice, Condition, SearchSpace
from nas.supernet.base import Supernet
from nas.supernet.conv2d import ElasticConv2d
from nas.supernet.depth import ElasticDepth
from nas.supernet.depthwise import ElasticDepthwiseConv
from nas.supernet.importance import channel_importance, permute_channels
from nas.supernet.norm import ElasticBatchNorm2d
from nas.supernet.ops import ElasticLinear
from nas.supernet.static import SqueezeExcite
from nas.supernet.superpose import Active, Mixture, max_of, prefix_mask

__all__ = ["build_mbconv_space", "MBConvSupernet", "MBConvBlock", "StaticMBConvNet", "short_mbconv"]

WIDTHS = (8, 16, 24)
STRIDES = (2, 2, 1)
STEM = 8
MAX_DEPTH = 3
KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)


def build_mbconv_space(widths: tuple[int, ...] = ()) -> SearchSpace:
    """Per stage depth and squeeze-excite, per block kernel and expand ratio.

    Args:
        widths: Channel options of every stage (ascending); empty: the fixed 8/16/24 of the
            registered space, with no width choice.

    Raises:
        ConfigError: if ``widths`` are not distinct positive integers in ascending order.
    """
    if widths and (list(widths) != sorted(set(widths)) or min(widths) < 1):
        raise invalid("widths", "be distinct positive integers in ascending order", widths)
    choices: list[Choice] = []
    for s in range(1, len(WIDTHS) + 1):
        choices += [Choice(f"s{s}.depth", tuple(range(1, MAX_DEPTH + 1))), Choice(f"s{s}.se", (0, 1))]
        if widths:
            choices.append(Choice(f"s{s}.width", tuple(int(w) for w in widths)))
        for b in range(1, MAX_DEPTH + 1):
            when = None if b == 1 else Condition(f"s{s}.depth", b)
            choices += [Choice(f"s{s}.b{b}.kernel", KERNELS, when), Choice(f"s{s}.b{b}.expand", EXPANDS, when)]
    return SearchSpace("mbconv", choices)


@register_block
class MBConvBlock(nn.Module):
    """Static inverted-residual block: expand, depthwise, optional SE, project, residual."""

    def __init__(self, expand: nn.Sequential, depthwise: nn.Sequential, se: nn.Module, project: nn.Sequential,
                 residual: bool) -> None:
        super().__init__()
        self.expand, self.depthwise, self.se, self.project = expand, depthwise, se, project
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # the layers are called one by one, not through their Sequentials: at batch 1 each
        # extra module call costs about as much as a small convolution
        out = x
        for layer in self.expand:
            out = layer(out)
        for layer in self.depthwise:
            out = layer(out)
        out = self.se(out)
        for layer in self.project:
            out = layer(out)
        return x + out if self.residual else out


@register_block
class StaticMBConvNet(nn.Module):
    """The exported, static form of an ``mbconv`` subnet."""

    def __init__(self, stem: nn.Sequential, stages: list[nn.Module], head: nn.Linear) -> None:
        super().__init__()
        self.stem, self.stages, self.head = stem, nn.Sequential(*stages), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        for layer in self.stem:
            x = layer(x)
        for block in self.stages:
            x = block(x)
        return self.head(x.mean(dim=(2, 3)))


class _ElasticSE(nn.Module):
    def __init__(self, max_ch: int, reduced: int) -> None:
        super().__init__()
        self.reduce, self.expand = ElasticLinear(max_ch, reduced), ElasticLinear(reduced, max_ch)

    def set_active(self, ch: int) -> None:
        self.reduce.set_active(ch, self.reduce.weight.shape[0])
        self.expand.set_active(self.expand.weight.shape[1], ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]

    def export(self) -> SqueezeExcite:
        convs = []
        for lin in (self.reduce.export(), self.expand.export()):
            conv = nn.Conv2d(lin.in_features, lin.out_features, 1)
            conv.weight.data.copy_(lin.weight.data[:, :, None, None])
            conv.bias.data.copy_(lin.bias.data)
            convs.append(conv)
        return SqueezeExcite(*convs)


class _ElasticMBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, residual: bool) -> None:
        super().__init__()
        hidden = c_in * max(EXPANDS)
        self.expand, self.bn1 = ElasticConv2d(c_in, hidden, 1), ElasticBatchNorm2d(hidden)
        self.dw, self.bn2 = ElasticDepthwiseConv(hidden, max(KERNELS), stride), ElasticBatchNorm2d(hidden)
        self.se = _ElasticSE(hidden, max(4, hidden // 8))
        self.project, self.bn3 = ElasticConv2d(hidden, c_out, 1), ElasticBatchNorm2d(c_out)
        if residual and (stride != 1 or c_in != c_out):
            raise invalid("residual", "need stride 1 and equal max channels", (stride, c_in, c_out))
        self.residual = residual
        self.use_se: Active = 1
        self.hidden_mix: Mixture | None = None

    def set_active(self, kernel: Active, expand: Active, se: Active, c_in: Active, c_out: Active) -> None:
        """Discrete choices slice; mixtures superpose (see the module docstring)."""
        width_in = max_of(c_in)
        hidden = max_of(expand) * width_in
        self.expand.set_active(c_in, hidden, 1)
        self.bn1.set_active(hidden)
        self.dw.set_active(hidden, kernel)
        self.bn2.set_active(hidden)
        self.se.set_active(hidden)
        self.project.set_active(hidden, c_out, 1)
        self.bn3.set_active(c_out)
        self.use_se = se
        self.hidden_mix = (Mixture(tuple(o * width_in for o in expand.options), expand.weights)
                           if isinstance(expand, Mixture) else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn2(self.dw(F.relu(self.bn1(self.expand(x))))))
        if isinstance(self.use_se, Mixture):
            w_off, w_on = self.use_se.weights
            h = w_on * self.se(h) + w_off * h
        elif self.use_se:
            h = self.se(h)
        if self.hidden_mix is not None:
            h = h * prefix_mask(self.hidden_mix, h.shape[1])[None, :, None, None]
        out = self.bn3(self.project(h))
        return x + out if self.residual else out

    def sort_hidden_channels(self) -> None:
        """Orders hidden channels by importance (L1 of the project conv's input columns)."""
        perm = torch.argsort(channel_importance(self.project.weight, 1), descending=True)
        permute_channels(perm, [(self.expand.weight, 0), (self.bn1.weight, 0), (self.bn1.bias, 0),
                                (self.bn1.running_mean, 0), (self.bn1.running_var, 0), (self.dw.weight, 0),
                                (self.bn2.weight, 0), (self.bn2.bias, 0), (self.bn2.running_mean, 0),
                                (self.bn2.running_var, 0), (self.se.reduce.weight, 1), (self.se.expand.weight, 0),
                                (self.se.expand.bias, 0), (self.project.weight, 1)])

    def export(self) -> MBConvBlock:
        se = self.se.export() if self.use_se else nn.Identity()
        return MBConvBlock(nn.Sequential(self.expand.export(), self.bn1.export(), nn.ReLU()),
                           nn.Sequential(self.dw.export(), self.bn2.export(), nn.ReLU()), se,
                           nn.Sequential(self.project.export(), self.bn3.export()), self.residual)


class MBConvSupernet(Supernet):
    """Weight-entangled supernet of the ``mbconv`` space.

    Args:
        space: The space from :func:`build_mbconv_space`.
        in_channels: Input channels.
        image_size: Input height (= width); the stem has stride 2 from 16 pixels up.
        num_classes: Output classes.
    """

    def __init__(self, space: SearchSpace, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(space)
        self.stem_conv = ElasticConv2d(in_channels, STEM, 3, stride=2 if image_size >= 16 else 1)
        self.stem_bn = ElasticBatchNorm2d(STEM)
        self.stages = nn.ModuleList()
        self.max_widths = stage_widths(space)
        c_in = STEM
        for width, stride in zip(self.max_widths, STRIDES):
            blocks = [_ElasticMBConv(c_in if b == 0 else width, width, stride if b == 0 else 1, b > 0)
                      for b in range(MAX_DEPTH)]
            self.stages.append(ElasticDepth(blocks))
            c_in = width
        self.head = ElasticLinear(self.max_widths[-1], num_classes)
        self._set_active(self.max_arch())

    def _set_active(self, arch: Arch) -> None:
        self._apply({label: arch.get(label, self.space.choice(label).options[0]) for label in self.space.labels})

    def set_mixture(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Activates the superposed supernet: ``weights[label]`` over that label's options."""
        self._apply({c.label: Mixture(tuple(int(o) for o in c.options), weights[c.label]) for c in self.space.choices})
        self._active = None

    def _apply(self, values: Mapping[str, Active]) -> None:
        c_in: Active = STEM
        for s, stage in enumerate(self.stages, start=1):
            c_out = values.get(f"s{s}.width", self.max_widths[s - 1])
            stage.set_active(values[f"s{s}.depth"])
            for b, block in enumerate(stage.blocks, start=1):
                block.set_active(values[f"s{s}.b{b}.kernel"], values[f"s{s}.b{b}.expand"], values[f"s{s}.se"],
                                 c_in if b == 1 else c_out, c_out)
            c_in = c_out
        self.head.set_active(c_in, self.head.weight.shape[0])

    def sort_channels(self) -> None:
        """Orders every block's hidden (expanded) channels by importance, most important first;
        the largest subnet's function is unchanged (see :mod:`nas.supernet.importance`)."""
        for stage in self.stages:
            for block in stage.blocks:
                block.sort_hidden_channels()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        for stage in self.stages:
            x = stage(x)
        return self.head(x.mean(dim=(2, 3)))

    def _export(self, arch: Arch) -> nn.Module:
        stem = nn.Sequential(self.stem_conv.export(), self.stem_bn.export(), nn.ReLU())
        return StaticMBConvNet(stem, [stage.export() for stage in self.stages], self.head.export())


def stage_widths(space: SearchSpace) -> tuple[int, ...]:
    """Each stage's max output channels: its ``s{s}.width`` choice's largest option, or the fixed width."""
    return tuple(max(int(o) for o in space.choice(f"s{s}.width").options) if f"s{s}.width" in space.labels else w
                 for s, w in enumerate(WIDTHS, start=1))


def short_mbconv(arch: Arch) -> str:
    """Compact form per stage: ``d<depth>[w<width>][+se] k<kernels> e<expands>``, e.g. ``d2+se k35e36``."""
    parts = []
    for s in range(1, len(WIDTHS) + 1):
        d = int(arch[f"s{s}.depth"])
        ks = "".join(str(arch[f"s{s}.b{b}.kernel"]) for b in range(1, d + 1))
        es = "".join(str(arch[f"s{s}.b{b}.expand"]) for b in range(1, d + 1))
        w = f"w{arch[f's{s}.width']}" if f"s{s}.width" in arch else ""
        parts.append(f"d{d}{w}{'+se' if arch[f's{s}.se'] else ''}k{ks}e{es}")
    return " ".join(parts)


def mbconv_features(arch: Arch) -> list[float]:
    """Structural predictor features: total depth, SE stages, summed kernel area x expand, and
    (elastic-width variant only) the summed stage widths x depths."""
    stages = range(1, len(WIDTHS) + 1)
    depth = sum(int(arch[f"s{s}.depth"]) for s in stages)
    se = sum(int(arch[f"s{s}.se"]) for s in stages)
    cost = sum(int(v) ** 2 * int(arch[k.replace("kernel", "expand")]) for k, v in arch.items if k.endswith(".kernel"))
    widths = [float(sum(int(arch[f"s{s}.width"]) * int(arch[f"s{s}.depth"]) for s in stages))] \
        if "s1.width" in arch else []
    return [float(depth), float(se), float(cost), *widths]


def _build(space: SearchSpace, task: Task) -> MBConvSupernet:
    channels, height, _ = task.input_shape
    return MBConvSupernet(space, channels, height, task.num_classes)


SPACES.add(
    "mbconv",
    SpaceSpec(
        name="mbconv",
        build_space=build_mbconv_space,
        tasks=("mnist5k", "digits"),
        build_supernet=_build,
        description="inverted-residual CNN: per block kernel {3,5,7} and expand {3,4,6}, per stage depth and SE",
        short=short_mbconv,
        features=mbconv_features,
        default_epochs=3,
    ),
)
