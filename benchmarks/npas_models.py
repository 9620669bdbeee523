"""The networks of ``nas bench npas``: each space's max architecture and its width-reduced twin.

The NPAS benchmark compares, at one parameter budget, a Shapeshifter Network (the max
architecture with its weights generated from banks) against the same architecture made
narrower until its parameter count is closest to the budget, trained stand-alone.

* ``cnn1d``: the width-reduced network is a ``cnn1d`` supernet whose only width option is ``w``
  (every stage ``w`` channels), its max architecture trained as a fixed network;
* ``mbconv``: widths cannot be set on the registered space (8/16/24 channels are fixed), so the
  width-reduced network is built here from the space's own static blocks
  (:class:`search_spaces.mbconv.MBConvBlock`): the max architecture (3 blocks per stage, kernel
  7, expand 6, squeeze-excite) with the stem and stage widths scaled by ``m`` (rounded, at
  least 1 channel) and the space's own rules for hidden and squeeze-excite widths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.data import Task
from nas.errors import invalid
from nas.supernet.base import Supernet

__all__ = ["SPACES", "natural_net", "width_net", "mbconv_scaled", "params_of"]

SPACES = ("cnn1d", "mbconv")


def params_of(net: nn.Module) -> int:
    """Trainable parameters of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _cnn1d(task: Task, widths: tuple[int, ...] | None = None) -> Supernet:
    from search_spaces.cnn1d import CNN1dSupernet, build_cnn1d_space

    space = build_cnn1d_space() if widths is None else build_cnn1d_space(widths=widths)
    return CNN1dSupernet(space, task.input_shape[0], task.input_shape[1], task.num_classes)


def natural_net(space: str, task: Task) -> Supernet:
    """The registered supernet of ``space`` on ``task`` (its max architecture is the natural network).

    Raises:
        ConfigError: naming ``--space`` for a space the benchmark does not know.
    """
    if space == "cnn1d":
        return _cnn1d(task)
    if space == "mbconv":
        from search_spaces.mbconv import MBConvSupernet, build_mbconv_space

        channels, height, _ = task.input_shape
        return MBConvSupernet(build_mbconv_space(), channels, height, task.num_classes)
    raise invalid("--space", f"be one of {list(SPACES)}", space)


def mbconv_scaled(task: Task, scale: float) -> nn.Module:
    """The ``mbconv`` max architecture with every width scaled by ``scale`` (a plain module)."""
    from search_spaces.mbconv import EXPANDS, KERNELS, MAX_DEPTH, STEM, STRIDES, WIDTHS, MBConvBlock, StaticMBConvNet
    from nas.supernet.static import SqueezeExcite

    if not scale > 0:
        raise invalid("scale", "be positive", scale)
    channels, height, _ = task.input_shape
    c = lambda w: max(1, int(round(w * scale)))  # noqa: E731
    stem_out = c(STEM)
    stem = nn.Sequential(nn.Conv2d(channels, stem_out, 3, 2 if height >= 16 else 1, 1, bias=False),
                         nn.BatchNorm2d(stem_out), nn.ReLU())
    kernel, expand = max(KERNELS), max(EXPANDS)
    stages, c_in = [], stem_out
    for width, stride in zip(WIDTHS, STRIDES):
        blocks = []
        for b in range(MAX_DEPTH):
            cin, s, out = (c_in if b == 0 else c(width)), (stride if b == 0 else 1), c(width)
            hidden = cin * expand
            se = SqueezeExcite(nn.Conv2d(hidden, max(4, hidden // 8), 1), nn.Conv2d(max(4, hidden // 8), hidden, 1))
            blocks.append(MBConvBlock(
                nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU()),
                nn.Sequential(nn.Conv2d(hidden, hidden, kernel, s, kernel // 2, groups=hidden, bias=False),
                              nn.BatchNorm2d(hidden), nn.ReLU()),
                se, nn.Sequential(nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)),
                s == 1 and cin == out))
        stages.append(nn.Sequential(*blocks))
        c_in = c(width)
    return StaticMBConvNet(stem, stages, nn.Linear(c_in, task.num_classes))


def _closest(build: Callable[[Any], nn.Module], options: list[Any], budget: int) -> tuple[nn.Module, Any]:
    """The option whose network's parameter count is closest to ``budget``.

    ``options`` ascend and the count never decreases along them (wider is never smaller), so a
    binary search finds the first option at or above the budget and compares it with the one before.
    """
    def count(option: Any) -> int:
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            return params_of(build(option))

    lo, hi = 0, len(options) - 1
    while lo < hi:  # bounded: the interval halves every step
        mid = (lo + hi) // 2
        if count(options[mid]) >= budget:
            hi = mid
        else:
            lo = mid + 1
    near = [options[i] for i in (lo - 1, lo) if 0 <= i < len(options)]
    best = min(near, key=lambda o: abs(count(o) - budget))
    return build(best), best


def width_net(space: str, task: Task, budget: int) -> tuple[nn.Module, dict[str, Any]]:
    """The width-reduced ``space`` network whose parameter count is closest to ``budget``.

    Returns:
        The (unseeded: wrap the call in ``seeded_build``) network and what was chosen
        (``{"width": w}`` for cnn1d, ``{"scale": m}`` for mbconv).
    """
    if space == "cnn1d":
        net, w = _closest(lambda w: _cnn1d(task, (w,)), list(range(1, 49)), budget)
        return net, {"width": int(w)}
    if space == "mbconv":
        scales = [round(float(m), 3) for m in np.arange(0.05, 2.0001, 0.025)]
        net, m = _closest(lambda m: mbconv_scaled(task, m), scales, budget)
        return net, {"scale": m}
    raise invalid("--space", f"be one of {list(SPACES)}", space)
