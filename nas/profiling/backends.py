"""Timing static modules on a backend: torch eager, TorchScript, ONNX Runtime (CPU), CUDA.

:func:`measure_items` follows DESIGN §5 for a list of modules at once: every module is prepared
for its backend (traced and frozen, exported to ONNX and loaded in a 1-thread session, moved to
the GPU), warmed up with ``protocol.warmup`` calls, then timed in ``rounds`` interleaved rounds
(a fresh seeded order per round) of ``ceil(repeats / rounds)`` calls each; the median and IQR
are taken over all of a module's timed calls. Interleaving spreads a burst of load from other
processes over every candidate instead of biasing one. CUDA calls are timed with CUDA events.
Inputs are seeded random normals, never zeros.
"""

from __future__ import annotations

import io
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nas.errors import EvaluationError
from nas.profiling.devices import DeviceProfile
from nas.profiling.measure import LatencyProtocol, LatencyResult

__all__ = ["Item", "prepare", "measure_items", "export_onnx"]

Shape = tuple[int, ...]


@dataclass
class Item:
    """One module to time.

    Attributes:
        module: A static module (its weights are used as they are; it is put in eval mode).
        shapes: Full shapes of its positional inputs, batch dimension included.
    """

    module: nn.Module
    shapes: tuple[Shape, ...]


def _inputs(shapes: Sequence[Shape], seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen) for s in shapes]


def export_onnx(module: nn.Module, inputs: Sequence[torch.Tensor]) -> bytes:
    """The module as ONNX bytes (TorchScript-based exporter, opset 17, static shapes)."""
    buf = io.BytesIO()
    names = [f"x{i}" for i in range(len(inputs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(inputs), buf, dynamo=False, opset_version=17, input_names=names,
                          do_constant_folding=True)
    return buf.getvalue()


def _ort_runner(module: nn.Module, xs: list[torch.Tensor], threads: int) -> Callable[[], object]:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(export_onnx(module, xs), opts, providers=["CPUExecutionProvider"])
    feed = {f"x{i}": x.numpy() for i, x in enumerate(xs)}
    return lambda: sess.run(None, feed)


def prepare(item: Item, profile: DeviceProfile, seed: int = 0) -> Callable[[], object]:
    """A no-argument callable that runs ``item`` once on ``profile``'s backend.

    Raises:
        EvaluationError: when the module cannot be traced or exported for the backend.
    """
    module = item.module.eval()
    xs = _inputs(item.shapes, seed)
    try:
        if profile.backend == "onnxruntime":
            return _ort_runner(module, xs, profile.threads)
        if profile.backend == "torchscript":
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.freeze(torch.jit.trace(module, tuple(xs)).eval())
            return lambda: traced(*xs)
        if profile.backend == "cuda":
            dev = torch.device("cuda")
            module_gpu = module.to(dev)
            xs_gpu = [x.to(dev) for x in xs]
            return lambda: module_gpu(*xs_gpu)
        if profile.backend == "torch":
            return lambda: module(*xs)
    except EvaluationError:
        raise
    except Exception as e:  # noqa: BLE001 - any tracing/export failure is reported the same way
        raise EvaluationError(f"`device` {profile.name} could not prepare {type(module).__name__} for backend "
                              f"{profile.backend}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    raise EvaluationError(f"`device` {profile.name} with backend {profile.backend!r} cannot time modules")


def _time_calls(fn: Callable[[], object], n: int, cuda: bool) -> list[float]:
    out: list[float] = []
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(n):
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(float(start.elapsed_time(end)))
        return out
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def measure_items(items: Sequence[Item], profile: DeviceProfile, protocol: LatencyProtocol, rounds: int = 1,
                  seed: int = 0, chunk: int = 64) -> list[LatencyResult]:
    """Times every item on ``profile`` (this process), interleaved in ``rounds`` rounds.

    Args:
        items: Modules and their input shapes.
        profile: The device (its backend and threads; placement is ignored: this runs here).
        protocol: Warm-up and repeats per item (``repeats`` is split across rounds).
        rounds: Interleaved rounds (1: each item timed in one go).
        seed: Seed of the inputs and of the per-round order.
        chunk: Items prepared and interleaved together (bounds memory for large tables).

    Returns:
        One result per item, in order (``calls`` = timed calls of that item); ``median_ms`` holds
        the device's statistic (the median, or the fastest call for an ``@min`` device).
    """
    if rounds <= 0:
        raise EvaluationError(f"`rounds` must be positive, got {rounds}")
    rng = np.random.default_rng(seed)
    per_round = max(1, math.ceil(protocol.repeats / rounds))
    cuda = profile.backend == "cuda"
    results: list[LatencyResult] = []
    threads_before = torch.get_num_threads()
    torch.set_num_threads(profile.threads)
    try:
        with torch.inference_mode():
            for lo in range(0, len(items), chunk):
                part = items[lo : lo + chunk]
                runners = [prepare(it, profile, seed + lo + i) for i, it in enumerate(part)]
                times: list[list[float]] = [[] for _ in part]
                for fn in runners:
                    _time_calls(fn, protocol.warmup, cuda)
                for _ in range(rounds):
                    for i in rng.permutation(len(part)):
                        times[i].extend(_time_calls(runners[i], per_round, cuda))
                for t in times:
                    q1, med, q3 = np.percentile(np.asarray(t), [25, 50, 75])
                    loc = float(np.min(t)) if profile.statistic == "min" else float(med)
                    results.append(LatencyResult(loc, float(q3 - q1), len(t)))
    finally:
        torch.set_num_threads(threads_before)
    return results
