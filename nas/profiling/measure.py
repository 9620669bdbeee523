"""Latency measurement following DESIGN §5.

One thread unless told otherwise, an explicit batch size, a warm-up of at least 100 calls, the
median of at least 200 timed calls with the inter-quartile range, random (never zero) inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nas.errors import invalid

__all__ = ["LatencyProtocol", "LatencyResult", "measure_callable", "measure_module"]


@dataclass(frozen=True)
class LatencyProtocol:
    """How to time a model.

    Attributes:
        warmup: Untimed calls before timing (at least 100 for a reported figure).
        repeats: Timed calls; the median is reported.
        threads: torch intra-op threads while timing.
        batch_size: Batch size of the timed input.
    """

    warmup: int = 100
    repeats: int = 200
    threads: int = 1
    batch_size: int = 1

    def __post_init__(self) -> None:
        for name in ("repeats", "threads", "batch_size"):
            if getattr(self, name) <= 0:
                raise invalid(f"latency.{name}", "be positive", getattr(self, name))
        if self.warmup < 0:
            raise invalid("latency.warmup", "be >= 0", self.warmup)


@dataclass(frozen=True)
class LatencyResult:
    """Median and inter-quartile range of the timed calls, in milliseconds.

    The fields after ``calls`` were added for device profiling (all defaulted, so existing
    three-field constructions are unchanged):

    Attributes:
        median_ms: Median of the timed calls, or the fastest call for an ``@min`` device (for a
            model: the predicted mean).
        iqr_ms: Inter-quartile range of the timed calls (for a model: 0).
        calls: Timed calls (0 for a prediction or a table lookup).
        node: Where it was measured: ``""`` here, else the Ray node (``<node-id[:8]>@<ip>``).
        std_ms: Predicted standard deviation (latency models; 0 for measurements).
        source: ``measured``, ``model`` or ``table``.
        device: Id of the device fingerprint the figure belongs to (``""`` when unknown).
    """

    median_ms: float
    iqr_ms: float
    calls: int
    node: str = ""
    std_ms: float = 0.0
    source: str = "measured"
    device: str = ""


def measure_callable(fn: Callable[[], object], protocol: LatencyProtocol) -> LatencyResult:
    """Times ``fn`` under ``protocol`` (thread count set and restored around the timing)."""
    threads_before = torch.get_num_threads()
    torch.set_num_threads(protocol.threads)
    try:
        for _ in range(protocol.warmup):
            fn()
        times = np.empty(protocol.repeats)
        for i in range(protocol.repeats):
            t0 = time.perf_counter()
            fn()
            times[i] = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads_before)
    q1, med, q3 = np.percentile(times * 1e3, [25, 50, 75])
    return LatencyResult(float(med), float(q3 - q1), protocol.repeats)


def measure_module(module: nn.Module, input_shape: tuple[int, ...], protocol: LatencyProtocol, seed: int = 0) -> LatencyResult:
    """Times a torch module in eval mode on a random input of ``(batch_size, *input_shape)``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((protocol.batch_size, *input_shape), generator=gen)
    module.eval()
    with torch.inference_mode():
        return measure_callable(lambda: module(x), protocol)
