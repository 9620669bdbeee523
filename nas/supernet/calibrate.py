"""BatchNorm recalibration: recompute running statistics for one subnet before scoring it.

Shared BN buffers hold statistics mixed over every subnet sampled in training; a subnet's own
statistics (a cumulative average over a few training batches) are what it should be scored with.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["recalibrate_bn"]


@torch.no_grad()
def recalibrate_bn(module: nn.Module, inputs: Iterable[torch.Tensor]) -> int:
    """Resets every BatchNorm's statistics and re-estimates them from ``inputs``.

    Args:
        module: A static (exported) module; it is left in eval mode.
        inputs: Batches of training inputs.

    Returns:
        The number of batches used.
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    module.train()
    n = 0
    try:
        for x in inputs:
            module(x)
            n += 1
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        module.eval()
    return n
