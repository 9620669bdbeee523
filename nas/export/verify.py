"""What an export is checked against: the activated supernet subnet, on real inputs and in time.

The exported weights carry BatchNorm statistics recalibrated for the chosen subnet (as the
evaluator scored it). The reference is therefore the *activated supernet* whose shared
BatchNorm buffers were recalibrated the same way, on the same batches: a copy of the supernet
(the original is never touched), the subnet activated, every running statistic reset and
re-estimated as a cumulative average. Its outputs must equal the exported model's to 1e-5.

Latency is compared by :func:`interleaved_latency`: the §5 protocol (threads, batch size,
warm-up, median and IQR of timed calls, random inputs) with the candidates' calls interleaved
so that machine noise hits every candidate alike.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nas.profiling.measure import LatencyProtocol, LatencyResult
from nas.space import Arch
from nas.supernet.base import Supernet

__all__ = ["recalibrated_reference", "max_abs_diff", "interleaved_latency", "EQUAL_ATOL", "ORT_ATOL"]

EQUAL_ATOL = 1e-5
ORT_ATOL = 1e-4


def _stat_modules(module: nn.Module) -> list[nn.Module]:
    """Modules holding BatchNorm-style running statistics (torch BN and elastic BN alike)."""
    return [m for m in module.modules()
            if isinstance(getattr(m, "running_mean", None), torch.Tensor)
            and isinstance(getattr(m, "running_var", None), torch.Tensor) and hasattr(m, "momentum")]


@torch.no_grad()
def recalibrated_reference(supernet: Supernet, arch: Arch, inputs: Iterable[torch.Tensor]) -> nn.Module:
    """A copy of ``supernet`` with ``arch`` active and its BatchNorm statistics re-estimated.

    The cumulative average uses momentum ``1/(i+1)`` at batch ``i``: the arithmetic of
    ``momentum=None`` in :func:`nas.supernet.calibrate.recalibrate_bn`, so the statistics equal
    those of the exported module recalibrated on the same batches.

    Args:
        supernet: The trained supernet (left unchanged).
        arch: The architecture to activate.
        inputs: The calibration batches (the evaluator's, for the same seed).

    Returns:
        The activated copy, in eval mode.
    """
    ref = copy.deepcopy(supernet)
    ref.set_arch(arch)
    stats = _stat_modules(ref)
    for m in stats:
        m.running_mean.zero_()
        m.running_var.fill_(1.0)
        if isinstance(getattr(m, "num_batches_tracked", None), torch.Tensor):
            m.num_batches_tracked.zero_()
    saved = [m.momentum for m in stats]
    ref.train()
    try:
        for i, x in enumerate(inputs):
            for m in stats:
                m.momentum = 1.0 / (i + 1)
            ref(x)
    finally:
        for m, mom in zip(stats, saved):
            m.momentum = mom
    return ref.eval()


def max_abs_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Largest absolute element difference (shapes must agree)."""
    ta = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).detach().double()
    tb = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b).detach().double()
    if ta.shape != tb.shape:
        raise ValueError(f"outputs must have the same shape to be compared, got {tuple(ta.shape)} and {tuple(tb.shape)}")
    return float((ta - tb).abs().max()) if ta.numel() else 0.0


def _result(times: Sequence[float], n: int) -> LatencyResult:
    q1, med, q3 = np.percentile(np.asarray(times) * 1e3, [25, 50, 75])
    return LatencyResult(float(med), float(q3 - q1), n)


def interleaved_latency(candidates: Mapping[str, Callable[[torch.Tensor], object]], input_shape: tuple[int, ...],
                        protocol: LatencyProtocol, seed: int = 0) -> dict[str, LatencyResult]:
    """Times several callables on one random input, interleaving their calls (DESIGN §5).

    Every candidate gets ``protocol.warmup`` untimed calls, then ``protocol.repeats`` timed
    calls, one call of each candidate per round in a rotating order.

    Args:
        candidates: Name -> callable taking the input batch (e.g. an eval-mode module).
        input_shape: Shape of one input (no batch dimension).
        protocol: Threads, batch size, warm-up and repeats.
        seed: Seed of the random input.

    Returns:
        Name -> median and IQR in milliseconds.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((protocol.batch_size, *input_shape), generator=gen)
    names = list(candidates)
    times: dict[str, list[float]] = {n: [] for n in names}
    threads_before = torch.get_num_threads()
    torch.set_num_threads(protocol.threads)
    try:
        with torch.inference_mode():
            for _ in range(protocol.warmup):
                for n in names:
                    candidates[n](x)
            for r in range(protocol.repeats):
                for n in names[r % len(names):] + names[: r % len(names)]:
                    t0 = time.perf_counter()
                    candidates[n](x)
                    times[n].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads_before)
    return {n: _result(times[n], protocol.repeats) for n in names}
