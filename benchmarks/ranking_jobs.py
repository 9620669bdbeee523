"""The ranking benchmark's units of work, run in-process or in a pool of worker processes.

Two kinds of job: one stand-alone training of a static module (:func:`standalone_job`) and one
supernet trained and scored on the whole architecture sample (:func:`supernet_job`). Each job
carries everything it needs (module or variant, task, recipe, seeds) and owns its generators, so
its result does not depend on the process that ran it nor on how many workers there were.
:func:`run_jobs` runs them, longest first, in ``workers`` spawned processes (1: in-process).
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.errors import ConfigError, invalid

__all__ = ["Variant", "reset_init", "train_standalone", "standalone_job", "supernet_job", "run_jobs"]

Build = Callable[[Any, Any], Any]
INITS = ("reset", "slice")


@dataclass(frozen=True)
class Variant:
    """The benchmarked space: a registered space, or a ``cnn1d`` / ``mbconv`` variant of it.

    Attributes:
        space: A trainable registered space.
        widths: Channel options of every stage (``cnn1d``, ``mbconv``; empty: the registered
            space's, which for ``mbconv`` means fixed widths and no width choice).
        depths, kernels: ``cnn1d`` options (empty: the registered space's).
        bn_per_width: ``cnn1d``: one BatchNorm per width option.
    """

    space: str
    widths: tuple[int, ...] = ()
    depths: tuple[int, ...] = ()
    kernels: tuple[int, ...] = ()
    bn_per_width: bool = False

    def build(self) -> tuple[Any, Build, tuple[str, ...]]:
        """The search space, a ``(space, task) -> Supernet`` builder and the space's tasks.

        Raises:
            ConfigError: for a table-backed space, or cnn1d options given for another space.
        """
        import search_spaces  # noqa: F401  (registers the spaces)
        from nas.catalog import SPACES

        spec = SPACES.get(self.space, "space")
        if not spec.trainable:
            raise ConfigError(f"`space` must be a trainable space for the ranking benchmark, got {self.space!r} (table-backed)")
        if self.space == "mbconv" and self.widths:
            if self.depths or self.kernels or self.bn_per_width:
                raise ConfigError("`depths/kernels/bn_per_width` apply to cnn1d only; mbconv takes `widths` alone")
            from search_spaces.mbconv import build_mbconv_space

            return build_mbconv_space(self.widths), spec.build_supernet, spec.tasks  # type: ignore[return-value]
        if self.space != "cnn1d":
            if self.widths or self.depths or self.kernels or self.bn_per_width:
                raise ConfigError(f"`widths/depths/kernels/bn_per_width` apply to cnn1d (and `widths` to mbconv) only, "
                                  f"got them for {self.space!r}")
            return spec.build_space(), spec.build_supernet, spec.tasks  # type: ignore[return-value]
        from search_spaces.cnn1d import DEPTHS, KERNELS, WIDTHS, CNN1dSupernet, build_cnn1d_space

        sp = build_cnn1d_space(self.widths or WIDTHS, self.kernels or KERNELS, self.depths or DEPTHS)
        bn_per_width = self.bn_per_width

        def build(s: Any, task: Any) -> Any:
            channels, length = task.input_shape
            return CNN1dSupernet(s, channels, length, task.num_classes, bn_per_width=bn_per_width)

        return sp, build, spec.tasks


@torch.no_grad()
def reset_init(module: nn.Module, seed: int) -> nn.Module:
    """Re-initialises every layer of ``module`` with its own default initialisation, seeded.

    An exported subnet's weights are slices of max-size tensors initialised for the largest
    fan-in, so a narrow subnet starts with weights several times smaller than its own default;
    with BatchNorm after the conv and Adam's per-weight steps, that raises its effective learning
    rate. Resetting gives every architecture the same, size-appropriate start.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
    return module


def train_standalone(module: nn.Module, task: Any, cfg: Any, seed: int) -> nn.Module:
    """Trains a static module on labels with the trainer's recipe (AdamW, warm-up + cosine)."""
    import torch.nn.functional as F

    from nas.data import batches

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(task.train) / cfg.batch_size)
    total, warm = max(1, cfg.epochs * steps_per_epoch), cfg.warmup_epochs * steps_per_epoch
    step = 0
    module.train()
    for _ in range(cfg.epochs):
        for x, y in batches(task.train, cfg.batch_size, gen):
            lr = cfg.lr * (step + 1) / warm if step < warm else \
                cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(module(x), y).backward()
            opt.step()
            step += 1
    return module.eval()


def standalone_job(module: nn.Module, task: Any, cfg: Any, seed: int, init: str, init_seed: int) -> tuple[float, float]:
    """Trains ``module`` stand-alone (after :func:`reset_init` when ``init`` is ``"reset"``).

    Returns:
        Validation accuracy (%) and the training's wall seconds.
    """
    from nas.evaluate import accuracy

    if init not in INITS:
        raise invalid("standalone_init", f"be one of {list(INITS)}", init)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if init == "reset":
        reset_init(module, init_seed)
    trained = train_standalone(module, task, cfg, seed)
    return accuracy(trained, task.val), time.perf_counter() - t0


def supernet_job(variant: Variant, task: Any, archs: Sequence[Any], cfg: Any, seed: int,
                 calib_batches: int) -> tuple[list[float], float]:
    """Trains one supernet of ``variant`` (sandwich rule, the recipe ``cfg``) and scores ``archs``
    through it, each with its BatchNorm recalibrated on ``calib_batches`` training batches.

    Returns:
        The validation accuracies (%) in the order of ``archs`` and the job's wall seconds.
    """
    from nas.evaluate import EvalConfig, Evaluator, accuracy
    from nas.supernet.base import seeded_build
    from nas.train import Trainer

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    space, build, _ = variant.build()
    net = seeded_build(lambda: build(space, task), seed)
    Trainer(net, task, cfg, seed).fit()
    evaluator = Evaluator(net.eval(), task, EvalConfig(calib_batches=calib_batches, score_test=False))
    return [accuracy(evaluator.static_subnet(a, seed), task.val) for a in archs], time.perf_counter() - t0


def run_jobs(jobs: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], workers: int,
             on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Runs ``(function, args)`` jobs in order (``workers == 1``) or in ``workers`` spawned processes.

    Args:
        jobs: Picklable top-level functions and their arguments; put the longest first.
        workers: Processes (1 runs in this process).
        on_done: Called with the job's index and result as each one finishes (progress).

    Returns:
        The results, in the order of ``jobs``.
    """
    if workers < 1:
        raise invalid("workers", "be >= 1", workers)
    results: list[Any] = [None] * len(jobs)
    if workers == 1:
        for i, (fn, args) in enumerate(jobs):
            results[i] = fn(*args)
            if on_done is not None:
                on_done(i, results[i])
        return results
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(fn, *args): i for i, (fn, args) in enumerate(jobs)}
        from concurrent.futures import as_completed

        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done is not None:
                on_done(i, results[i])
    return results
