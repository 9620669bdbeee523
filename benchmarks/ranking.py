"""Ranking fidelity (DESIGN §5): does the supernet rank subnets the way stand-alone training does?

A fixed, seeded sample of ``n_archs`` subnets is trained stand-alone (the exported static module
of a freshly initialised supernet, the same recipe for every arch, ``standalone_seeds`` seeds
averaged) and scored through ``seeds`` independently trained supernets with BN recalibration.
The JSON reports, per supernet seed and as mean/std: Kendall tau, Spearman and top-5 regret
against the stand-alone mean; the noise ceiling (tau between stand-alone seeds); the tau of
the free proxies (MACs, parameters); and the spread of stand-alone accuracies. A plotly HTML
scatter is written beside it.

For ``cnn1d`` the benchmark variant is set by ``widths`` / ``depths`` / ``kernels`` (same labels
as the registered space) and ``bn_per_width``; ``train_samples`` / ``val_samples`` resize the
task's splits (validation samples are taken from the end of the training split when needed).
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.errors import ConfigError, invalid
from benchmarks.results_io import write_result

__all__ = ["run", "resize_task", "sample_archs", "fidelity"]

Build = Callable[[Any, Any], Any]


def resize_task(task: Any, train_samples: int, val_samples: int) -> Any:
    """The task with at most ``train_samples`` training and exactly ``val_samples`` validation samples.

    Raises:
        ConfigError: if the task has too few samples for both.
    """
    from nas.data import Split

    extra = max(0, val_samples - len(task.val))
    if train_samples <= 0 or val_samples <= 0 or len(task.train) - extra < train_samples:
        raise invalid("train_samples/val_samples", f"fit in the task's {len(task.train) + len(task.val)} train+val samples",
                      (train_samples, val_samples))
    tx, ty = task.train.x, task.train.y
    vx = torch.cat([tx[len(tx) - extra:], task.val.x])[-val_samples:]
    vy = torch.cat([ty[len(ty) - extra:], task.val.y])[-val_samples:]
    keep = len(tx) - extra
    return replace(task, train=Split(tx[:keep][:train_samples], ty[:keep][:train_samples]), val=Split(vx, vy))


def sample_archs(space: Any, n: int, seed: int) -> list[Any]:
    """``n`` distinct architectures drawn with a generator seeded by ``seed`` (bounded tries)."""
    rng = np.random.default_rng(seed)
    archs: dict[str, Any] = {}
    for _ in range(100 * n):
        a = space.sample(rng)
        archs.setdefault(a.arch_id, a)
        if len(archs) == n:
            return list(archs.values())
    raise invalid("n_archs", f"be at most the distinct architectures found in {100 * n} draws", n)


def _ints(name: str, values: Any) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise invalid(name, "be comma-separated integers", values) from None


def _space_and_builder(space: str, widths: tuple[int, ...], depths: tuple[int, ...], kernels: tuple[int, ...],
                       bn_per_width: bool) -> tuple[Any, Build, tuple[str, ...]]:
    from nas.catalog import SPACES

    spec = SPACES.get(space, "space")
    if not spec.trainable:
        raise ConfigError(f"`space` must be a trainable space for the ranking benchmark, got {space!r} (table-backed)")
    if space != "cnn1d":
        if widths or depths or kernels or bn_per_width:
            raise ConfigError(f"`widths/depths/kernels/bn_per_width` apply to cnn1d only, got them for {space!r}")
        return spec.build_space(), spec.build_supernet, spec.tasks  # type: ignore[return-value]
    from search_spaces.cnn1d import DEPTHS, KERNELS, WIDTHS, CNN1dSupernet, build_cnn1d_space

    sp = build_cnn1d_space(widths or WIDTHS, kernels or KERNELS, depths or DEPTHS)

    def build(s: Any, task: Any) -> Any:
        channels, length = task.input_shape
        return CNN1dSupernet(s, channels, length, task.num_classes, bn_per_width=bn_per_width)

    return sp, build, spec.tasks


def _log(msg: str) -> None:
    print(f"[ranking {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def train_standalone(module: torch.nn.Module, task: Any, cfg: Any, seed: int) -> torch.nn.Module:
    """Trains a static module on labels with the trainer's recipe (AdamW, warm-up + cosine)."""
    import math

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


def fidelity(standalone: np.ndarray, supernet: dict[str, list[float]], macs: list[float], params: list[float],
             k: int = 5) -> dict[str, Any]:
    """Rank metrics from stand-alone accuracies ``(n_seeds, n_archs)`` and supernet accuracies per seed."""
    from predictors.metrics import kendall_tau, spearman, top_k_regret

    mean = standalone.mean(axis=0)
    per_seed = {name: {"kendall_tau": kendall_tau(mean, acc), "spearman": spearman(mean, acc),
                       f"top{k}_regret": top_k_regret(mean, acc, k=k)} for name, acc in supernet.items()}
    summary = {m: {"mean": float(np.mean([v[m] for v in per_seed.values()])),
                   "std": float(np.std([v[m] for v in per_seed.values()]))} for m in next(iter(per_seed.values()))}
    pairs = [kendall_tau(standalone[i], standalone[j]) for i, j in itertools.combinations(range(len(standalone)), 2)]
    ceiling = float(np.mean(pairs)) if pairs else float("nan")
    return {
        "per_supernet_seed": per_seed, "summary": summary,
        "noise_ceiling_tau": ceiling, "noise_ceiling_pairs": pairs,
        "tau_over_ceiling": summary["kendall_tau"]["mean"] / ceiling if ceiling > 0 else float("nan"),
        "proxies": {"macs": {"kendall_tau": kendall_tau(mean, macs), "spearman": spearman(mean, macs)},
                    "params": {"kendall_tau": kendall_tau(mean, params), "spearman": spearman(mean, params)}},
        "standalone_spread_points": float(mean.max() - mean.min()),
        "standalone_range": [float(mean.min()), float(mean.max())],
    }


def _standalone(space: Any, build: Build, task: Any, archs: list[Any], cfg: Any, seeds: list[int]) -> tuple[np.ndarray, list[float], list[float]]:
    from nas.evaluate import accuracy
    from nas.profiling.cost import count_macs, count_params
    from nas.supernet.base import seeded_build

    acc = np.zeros((len(seeds), len(archs)))
    macs, params = [0.0] * len(archs), [0.0] * len(archs)
    for si, seed in enumerate(seeds):
        net = seeded_build(lambda: build(space, task), seed)
        for ai, arch in enumerate(archs):
            t0 = time.perf_counter()
            module = train_standalone(net.export(arch), task, cfg, seed + ai)
            acc[si, ai] = accuracy(module, task.val)
            if si == 0:
                macs[ai], params[ai] = float(count_macs(module, task.input_shape)), float(count_params(module))
            _log(f"stand-alone seed {seed} arch {ai + 1}/{len(archs)}: {acc[si, ai]:.2f}% ({time.perf_counter() - t0:.1f}s)")
    return acc, macs, params


def _supernet(space: Any, build: Build, task: Any, archs: list[Any], cfg: Any, seed: int, calib_batches: int) -> list[float]:
    from nas.evaluate import EvalConfig, Evaluator, accuracy
    from nas.supernet.base import seeded_build
    from nas.train import Trainer

    net = seeded_build(lambda: build(space, task), seed)
    Trainer(net, task, cfg, seed).fit(on_epoch=lambda s: _log(f"supernet seed {seed} epoch {s.epoch}: "
                                                              f"loss max {s.loss_max:.3f} sub {s.loss_sub:.3f} ({s.seconds:.1f}s)"))
    evaluator = Evaluator(net.eval(), task, EvalConfig(calib_batches=calib_batches, score_test=False))
    return [accuracy(evaluator.static_subnet(a, seed), task.val) for a in archs]


def _reused(path: str, key: dict[str, Any], archs: list[Any]) -> tuple[np.ndarray, list[float], list[float]]:
    """Stand-alone accuracies of a previous result, if it measured the same archs the same way.

    Raises:
        ConfigError: naming the file and the first setting that differs.
    """
    try:
        prev = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"`reuse` must name a readable ranking result JSON, got {path!r} ({e})") from None
    old_key = prev.get("standalone_key") or {}
    for k, v in key.items():
        if old_key.get(k) != v:
            raise ConfigError(f"`reuse` file {path!r} must have the same stand-alone `{k}`, got {old_key.get(k)!r} != {v!r}")
    rows = prev.get("archs", [])
    if [a.arch_id for a in archs] != [r["arch_id"] for r in rows]:
        raise ConfigError(f"`reuse` file {path!r} must hold the same architecture sample, got other arch ids")
    sa = np.array([r["standalone"] for r in rows]).T
    return sa, [float(r["macs"]) for r in rows], [float(r["params"]) for r in rows]


def run(space: str = "cnn1d", task: str = "", n_archs: int = 30, seeds: int = 3, standalone_seeds: int = 2, epochs: int = 15,
        supernet_epochs: int = 30, train_samples: int = 2000, val_samples: int = 1500,
        widths: tuple[int, ...] = (), depths: tuple[int, ...] = (), kernels: tuple[int, ...] = (),
        bn_per_width: bool = False, distill: bool = True, num_random: int = 2, calib_batches: int = 8,
        batch_size: int = 128, lr: float = 5e-3, seed: int = 0, target_tau: float = 0.8, reuse: str = "",
        out: str | None = None, html: str | None = None) -> dict[str, Any]:
    """Measures ranking fidelity and writes JSON (and an HTML scatter beside it).

    Args:
        space: A trainable registered space.
        task: One of the space's tasks (default: its first).
        n_archs: Architectures in the fixed sample.
        seeds: Supernets trained (seeds 0..seeds-1 derived from ``seed``).
        standalone_seeds: Stand-alone trainings per architecture (averaged; >= 2 for the ceiling).
        epochs: Stand-alone training epochs. supernet_epochs: Supernet training epochs.
        train_samples: Training samples used by both. val_samples: Validation samples scored.
        widths, depths, kernels: cnn1d variant options (empty: the registered space's).
        bn_per_width: cnn1d: one BatchNorm per width option.
        distill, num_random, batch_size, lr: Supernet/stand-alone recipe.
        calib_batches: BN recalibration batches (of 128) per supernet evaluation.
        seed: Seed of the sample and of every derived seed.
        target_tau: The acceptance target recorded with the result.
        reuse: A previous result JSON whose stand-alone accuracies are reused (same archs and
            stand-alone recipe required), to compare supernet recipes without retraining them.
        out: JSON file. html: Scatter file (default: ``out`` with ``.html``).
    """
    import search_spaces  # noqa: F401  (registers the spaces)
    from nas.data import TASKS
    from nas.search.loop import derive_seed
    from nas.train import TrainConfig

    if n_archs < 5 or seeds < 1 or standalone_seeds < 2:
        raise invalid("n_archs/seeds/standalone_seeds", "be >= 5, >= 1 and >= 2", (n_archs, seeds, standalone_seeds))
    widths, depths, kernels = (_ints(n, v) for n, v in (("widths", widths), ("depths", depths), ("kernels", kernels)))
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    sp, build, tasks = _space_and_builder(space, widths, depths, kernels, bn_per_width)
    task_name = task or tasks[0]
    if task_name not in tasks:
        raise invalid("task", f"be one of {list(tasks)} for space `{space}`", task_name)
    data = resize_task(TASKS.get(task_name).load(seed), train_samples, val_samples)
    archs = sample_archs(sp, n_archs, derive_seed(seed, 10))
    sa_cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, warmup_epochs=1, num_random=0, distill=False)
    sn_cfg = TrainConfig(epochs=supernet_epochs, batch_size=batch_size, lr=lr, warmup_epochs=1,
                         num_random=num_random, distill=distill)
    t0 = time.perf_counter()
    sa_key = {"space": space, "task": task_name, "widths": list(widths), "depths": list(depths), "kernels": list(kernels), "seed": seed,
              "standalone_seeds": standalone_seeds, "epochs": epochs, "train_samples": len(data.train),
              "val_samples": len(data.val), "batch_size": batch_size, "lr": lr}
    if reuse:
        sa, macs, params = _reused(reuse, sa_key, archs)
        _log(f"stand-alone accuracies reused from {reuse}")
    else:
        sa, macs, params = _standalone(sp, build, data, archs, sa_cfg,
                                       [derive_seed(seed, 20, i) for i in range(standalone_seeds)])
    t1 = time.perf_counter()
    sn = {f"seed{i}": _supernet(sp, build, data, archs, sn_cfg, derive_seed(seed, 30, i), calib_batches) for i in range(seeds)}
    t2 = time.perf_counter()
    fid = fidelity(sa, sn, macs, params)
    payload = {
        "benchmark": "ranking", "space": space, "task": task_name,
        "variant": {"widths": list(widths), "depths": list(depths), "kernels": list(kernels), "bn_per_width": bn_per_width},
        "n_archs": n_archs, "supernet_seeds": seeds, "standalone_seeds": standalone_seeds,
        "standalone_key": sa_key, "standalone_reused_from": reuse or None,
        "recipe": {"standalone_epochs": epochs, "supernet_epochs": supernet_epochs, "train_samples": len(data.train),
                   "val_samples": len(data.val), "batch_size": batch_size, "lr": lr, "distill": distill,
                   "num_random": num_random, "calib_batches": calib_batches},
        **fid,
        "target_tau": target_tau,
        "meets_target": bool(fid["summary"]["kendall_tau"]["mean"] >= target_tau and fid["tau_over_ceiling"] >= 0.9),
        "archs": [{"arch_id": a.arch_id, "arch": a.to_dict(), "standalone": sa[:, i].tolist(), "macs": macs[i],
                   "params": params[i], "supernet": {k: v[i] for k, v in sn.items()}} for i, a in enumerate(archs)],
        "seconds": {"standalone": t1 - t0, "supernet": t2 - t1, "total": time.perf_counter() - t_start},
        "machine": {"cpus": os.cpu_count(), "threads": 1, "processor": platform.processor() or platform.machine()},
    }
    if out:
        write_result(payload, out)
        from benchmarks.ranking_plot import _scatter_info, write_scatter

        info = _scatter_info(f"Ranking fidelity: {space} ({n_archs} archs)", sa.mean(axis=0).tolist(), sn,
                             [a.short() for a in archs],
                             {k: v["kendall_tau"] for k, v in fid["per_supernet_seed"].items()})
        write_scatter(info, html or str(Path(out).with_suffix(".html")))
    _log(f"tau {fid['summary']['kendall_tau']['mean']:.3f} ceiling {fid['noise_ceiling_tau']:.3f} "
         f"spread {fid['standalone_spread_points']:.1f} points, {time.perf_counter() - t_start:.0f}s")
    return payload
