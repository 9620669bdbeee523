"""Evaluating one subnet: export, BN recalibration, accuracy, cost and latency.

``Evaluator.evaluate(arch, seed)`` is what executors run (in-process or on Ray workers). It never
mutates the supernet: it exports the subnet to a static module, recalibrates that module's
BatchNorm on a few training batches drawn with ``seed``, scores it on the validation split (and
the test split, reported only), counts parameters and MACs, and asks its latency source.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from nas.data import Split, Task
from nas.errors import invalid
from nas.profiling.cost import count_macs, count_params
from nas.profiling.measure import LatencyProtocol, LatencyResult, measure_module
from nas.space import Arch
from nas.supernet.base import Supernet
from nas.supernet.calibrate import recalibrate_bn

__all__ = ["EvalConfig", "LatencySource", "MeasuredLatency", "Evaluator", "accuracy", "bits_per_token"]

Metrics = dict[str, float]


@dataclass(frozen=True)
class EvalConfig:
    """How subnets are scored.

    Attributes:
        calib_batches: Training batches used to recalibrate BatchNorm.
        calib_batch_size: Their size.
        score_test: Also report test accuracy (never used by the search).
        latency: The timing protocol for measured latency.
    """

    calib_batches: int = 8
    calib_batch_size: int = 128
    score_test: bool = True
    latency: LatencyProtocol = field(default_factory=LatencyProtocol)

    def __post_init__(self) -> None:
        if self.calib_batches <= 0:
            raise invalid("eval.calib_batches", "be positive", self.calib_batches)
        if self.calib_batch_size <= 0:
            raise invalid("eval.calib_batch_size", "be positive", self.calib_batch_size)


class LatencySource(Protocol):
    """Anything that gives a subnet's latency: a measurement here, a model, a device table."""

    def latency(self, arch: Arch, module: nn.Module) -> LatencyResult:
        """Latency of ``arch``, whose static module is ``module``."""
        ...


class MeasuredLatency:
    """Measures latency on this machine and caches it by ``arch_id`` (bounded LRU).

    Args:
        input_shape: Shape of one input (no batch dimension).
        protocol: Timing protocol.
        cache_size: Number of architectures remembered.
    """

    def __init__(self, input_shape: tuple[int, ...], protocol: LatencyProtocol, cache_size: int = 4096) -> None:
        self.input_shape, self.protocol = input_shape, protocol
        self._cache: OrderedDict[str, LatencyResult] = OrderedDict()
        self._cache_size = cache_size

    def latency(self, arch: Arch, module: nn.Module) -> LatencyResult:  # noqa: D102
        hit = self._cache.get(arch.arch_id)
        if hit is not None:
            self._cache.move_to_end(arch.arch_id)
            return hit
        result = measure_module(module, self.input_shape, self.protocol)
        self._cache[arch.arch_id] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result


@torch.no_grad()
def accuracy(module: nn.Module, split: Split, batch_size: int = 1000, heads: tuple[tuple[str, int], ...] = ()) -> float:
    """Top-1 accuracy in percent of ``module`` (eval mode) on ``split`` (with ``heads``, a multi-task
    task's: the mean of the heads' accuracies, see :mod:`nas.multitask`)."""
    if heads:
        from nas.multitask import head_accuracies

        return head_accuracies(module, split, heads, batch_size)["accuracy"]
    module.eval()
    correct = 0
    for i in range(0, len(split), batch_size):
        pred = module(split.x[i : i + batch_size]).argmax(1)
        correct += int((pred == split.y[i : i + batch_size]).sum())
    return 100.0 * correct / max(1, split.y.numel())  # per target: per token for sequences


@torch.no_grad()
def bits_per_token(module: nn.Module, split: Split, batch_size: int = 500) -> float:
    """Mean cross-entropy in bits per target of ``module`` (eval mode) on ``split`` (language models)."""
    module.eval()
    total = 0.0
    for i in range(0, len(split), batch_size):
        logits = module(split.x[i : i + batch_size])
        total += float(torch.nn.functional.cross_entropy(logits, split.y[i : i + batch_size], reduction="sum"))
    return total / max(1, split.y.numel()) / math.log(2)


class Evaluator:
    """Scores subnets of a trained supernet.

    Args:
        supernet: The trained supernet (not modified).
        task: Its task.
        config: Scoring settings.
        latency: Where latency comes from; ``None`` measures here with ``config.latency``.
    """

    def __init__(self, supernet: Supernet, task: Task, config: EvalConfig, latency: LatencySource | None = None) -> None:
        self.supernet, self.task, self.config = supernet, task, config
        self.latency = latency or MeasuredLatency(task.input_shape, config.latency)

    def calibration_batches(self, seed: int) -> list[torch.Tensor]:
        """The training batches (drawn with ``seed``) used to recalibrate BatchNorm."""
        gen = torch.Generator().manual_seed(seed)
        n = min(len(self.task.train), self.config.calib_batches * self.config.calib_batch_size)
        idx = torch.randperm(len(self.task.train), generator=gen)[:n]
        return list(self.task.train.x[idx].split(self.config.calib_batch_size))

    def static_subnet(self, arch: Arch, seed: int) -> nn.Module:
        """The exported subnet of ``arch`` with recalibrated BatchNorm, in eval mode."""
        self.supernet.eval()
        module = self.supernet.export(arch)
        recalibrate_bn(module, self.calibration_batches(seed))
        return module

    def evaluate(self, arch: Arch, seed: int) -> Metrics:
        """Scores ``arch``: accuracy (validation, %), test accuracy, params, MACs, latency.

        Args:
            arch: A valid architecture of the supernet's space.
            seed: Seed of the calibration batches (derive it from the run seed and the trial).
        """
        t0 = time.perf_counter()
        module = self.static_subnet(arch, seed)
        heads = self.task.heads
        if heads:  # multi-task: acc_<head> per head, accuracy = their mean
            from nas.multitask import head_accuracies

            metrics: Metrics = head_accuracies(module, self.task.val, heads)
        else:
            metrics = {"accuracy": accuracy(module, self.task.val)}
        if self.task.val.y.dim() > 1 and not heads:  # sequence targets (a language model): bits per character
            metrics["bpc"] = bits_per_token(module, self.task.val)
        if self.config.score_test:
            metrics["test_accuracy"] = accuracy(module, self.task.test, heads=heads)
        metrics["params"] = float(count_params(module))
        metrics["macs"] = float(count_macs(module, self.task.input_shape))
        extra = getattr(self.supernet, "subnet_metrics", None)
        if callable(extra):  # metrics a sharing mode's supernet adds (the mode's `extra_metrics`)
            metrics.update(extra(arch))
        t1 = time.perf_counter()
        lat = self.latency.latency(arch, module)
        t2 = time.perf_counter()
        metrics.update(latency_ms=lat.median_ms, latency_iqr_ms=lat.iqr_ms, eval_s=t1 - t0, latency_s=t2 - t1)
        metrics.update(latency_std_ms=lat.std_ms)
        # Provenance of the latency figure (strings: recorded as columns of trials.parquet).
        metrics.update(latency_source=lat.source, latency_node=lat.node)  # type: ignore[dict-item]
        return metrics
