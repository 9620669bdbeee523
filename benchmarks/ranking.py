"""Ranking fidelity (DESIGN §5): does the supernet rank subnets the way stand-alone training does?

A fixed, seeded sample of ``n_archs`` subnets is trained stand-alone (the exported static module
of a freshly initialised supernet, the same recipe for every arch, ``standalone_seeds`` seeds
averaged) and scored through ``seeds`` independently trained supernets with BN recalibration.
The JSON reports, per supernet seed and as mean/std: Kendall tau, Spearman and top-5 regret
against the stand-alone mean; the noise ceiling (tau between stand-alone seeds); the tau of
the free proxies (MACs, parameters); and the spread of stand-alone accuracies. A plotly HTML
scatter is written beside it.

For ``cnn1d`` the benchmark variant is set by ``widths`` / ``depths`` / ``kernels`` (same labels
as the registered space) and ``bn_per_width``; for ``mbconv`` by ``widths`` (elastic stage
widths, :func:`search_spaces.mbconv.build_mbconv_space`); ``task_samples`` generates a larger MNIST-1D, and
``train_samples`` / ``val_samples`` resize the task's splits (validation samples are taken from
the end of the training split when needed). ``sample`` picks the architecture sample: a uniform
draw of the space, or ``bottleneck`` / ``last-width``, an equal share from each stratum of the
narrowest / the last stage's width (:mod:`benchmarks.ranking_sample`). Stand-alone modules start from their own default
initialisation (``standalone_init=reset``) unless ``slice`` is asked for. The trainings run in
``workers`` processes (:mod:`benchmarks.ranking_jobs`); every job is seeded on its own.

Example (the committed cnn1d result that meets the issue's targets,
``benchmarks/results/ranking_cnn1d_w2-16_bnpw_t4k_e20_strat.json``; ``--epochs 60`` gives the
``..._e60_strat`` result; see ``run`` for every option)::

    nice -n 19 nas bench ranking --space cnn1d --widths 2,4,8,16 --bn-per-width true \
        --task-samples 20000 --train-samples 4000 --val-samples 3000 --epochs 20 \
        --supernet-epochs 30 --standalone-init reset --sample bottleneck --workers 2 \
        --out benchmarks/results/ranking_cnn1d_w2-16_bnpw_t4k_e20_strat.json

The committed mbconv/mnist5k result that meets them (elastic stage widths 1-8, a sample
stratified over the last stage's width)::

    nice -n 19 nas bench ranking --space mbconv --task mnist5k --widths 1,2,4,8 \
        --train-samples 2000 --val-samples 2000 --epochs 20 --supernet-epochs 40 \
        --standalone-init reset --sample last-width --workers 2 --target-tau 0.7 \
        --out benchmarks/results/ranking_mbconv_w1-8_t2k_e20_last.json
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.ranking_jobs import Variant, standalone_job, supernet_job, run_jobs, train_standalone
from benchmarks.ranking_sample import SAMPLES, STRATA_KEYS, sample_for, strata_counts, within_strata
from benchmarks.ranking_sample import sample_uniform as sample_archs
from benchmarks.results_io import write_result
from nas.errors import ConfigError, invalid

__all__ = ["run", "resize_task", "sample_archs", "fidelity", "train_standalone"]

CEILING_DEFINITION = ("noise_ceiling_tau: Kendall tau between two single stand-alone seeds of the same archs (mean over "
                      "seed pairs); conservative for the reference, which is the mean of all stand-alone seeds. "
                      "noise_ceiling_split_half_tau (>= 4 seeds): tau between the means of two disjoint halves of the seeds.")


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


# Stand-alone settings that results written before they existed were measured with.
LEGACY_KEY = {"task_samples": 0, "standalone_init": "slice", "sample": "uniform"}


def _ints(name: str, values: Any) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise invalid(name, "be comma-separated integers", values) from None


def _log(msg: str) -> None:
    print(f"[ranking {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fidelity(standalone: np.ndarray, supernet: dict[str, list[float]], macs: list[float], params: list[float],
             k: int = 5) -> dict[str, Any]:
    """Rank metrics from stand-alone accuracies ``(n_seeds, n_archs)`` and supernet accuracies per seed.

    The reference is the mean over stand-alone seeds. The noise ceiling is defined in
    :data:`CEILING_DEFINITION` (never computed against the reference it is compared with).
    """
    from predictors.metrics import kendall_tau, spearman, top_k_regret

    mean = standalone.mean(axis=0)
    per_seed = {name: {"kendall_tau": kendall_tau(mean, acc), "spearman": spearman(mean, acc),
                       f"top{k}_regret": top_k_regret(mean, acc, k=k)} for name, acc in supernet.items()}
    summary = {m: {"mean": float(np.mean([v[m] for v in per_seed.values()])),
                   "std": float(np.std([v[m] for v in per_seed.values()]))} for m in next(iter(per_seed.values()))}
    pairs = [kendall_tau(standalone[i], standalone[j]) for i, j in itertools.combinations(range(len(standalone)), 2)]
    ceiling = float(np.mean(pairs)) if pairs else float("nan")
    half = len(standalone) // 2
    split_half = kendall_tau(standalone[:half].mean(axis=0), standalone[half:2 * half].mean(axis=0)) if half >= 2 else None
    gaps = np.abs(standalone.max(axis=0) - standalone.min(axis=0))
    return {
        "per_supernet_seed": per_seed, "summary": summary,
        "noise_ceiling_tau": ceiling, "noise_ceiling_pairs": pairs, "noise_ceiling_split_half_tau": split_half,
        "noise_ceiling_definition": CEILING_DEFINITION,
        "tau_over_ceiling": summary["kendall_tau"]["mean"] / ceiling if ceiling > 0 else float("nan"),
        "standalone_seed_gap_points": {"mean": float(gaps.mean()), "max": float(gaps.max())},
        "proxies": {"macs": {"kendall_tau": kendall_tau(mean, macs), "spearman": spearman(mean, macs)},
                    "params": {"kendall_tau": kendall_tau(mean, params), "spearman": spearman(mean, params)}},
        "standalone_spread_points": float(mean.max() - mean.min()),
        "standalone_range": [float(mean.min()), float(mean.max())],
    }


def _load_task(name: str, seed: int, task_samples: int) -> Any:
    from nas.data import TASKS

    if not task_samples:
        return TASKS.get(name).load(seed)
    if name != "mnist1d":
        raise invalid("task_samples", "be 0 for tasks other than mnist1d (only MNIST-1D is generated)", task_samples)
    if task_samples < 1000:
        raise invalid("task_samples", "be >= 1000 (MNIST-1D samples generated, 80% train+val)", task_samples)
    from search_spaces.mnist1d_task import load_mnist1d

    return load_mnist1d(seed, num_samples=task_samples)


def _measure(variant: Variant, data: Any, archs: list[Any], sa_cfg: Any, sn_cfg: Any, sa_seeds: list[int],
             sn_seeds: list[int], calib_batches: int, init: str, workers: int, first_seed: int = 0) -> tuple[np.ndarray, dict[str, list[float]], dict[str, Any]]:
    """Runs the supernet jobs (longest first) and, when ``sa_seeds``, the stand-alone jobs."""
    from nas.search.loop import derive_seed
    from nas.supernet.base import seeded_build

    sp, build, _ = variant.build()
    jobs: list[Any] = [(supernet_job, (variant, data, archs, sn_cfg, s, calib_batches)) for s in sn_seeds]
    nets = [seeded_build(lambda: build(sp, data), s) for s in sa_seeds]
    slots = [(ai, si) for ai in range(len(archs)) for si in range(len(sa_seeds))]  # both seeds of an arch together
    jobs += [(standalone_job, (nets[si].export(archs[ai]), data, sa_cfg, sa_seeds[si] + ai, init,
                               derive_seed(sa_seeds[si], 40, ai))) for ai, si in slots]
    sa = np.full((len(sa_seeds), len(archs)), np.nan)

    def done(i: int, result: Any) -> None:
        if i < len(sn_seeds):
            _log(f"supernet seed {sn_seeds[i]}: trained and scored in {result[1]:.0f}s: {np.round(result[0], 2).tolist()}")
            return
        ai, si = slots[i - len(sn_seeds)]
        sa[si, ai] = result[0]
        _log(f"stand-alone arch {ai + 1}/{len(archs)} seed {first_seed + si}: {result[0]:.2f}% ({result[1]:.1f}s) "
             f"row {np.round(sa[:, ai], 1).tolist()}")

    results = run_jobs(jobs, workers, done)
    sn = {f"seed{i}": results[i][0] for i in range(len(sn_seeds))}
    seconds = {"supernet_per_seed": [results[i][1] for i in range(len(sn_seeds))],
               "standalone_trainings": float(sum(r[1] for r in results[len(sn_seeds):]))}
    return sa, sn, seconds


def _cost(module: torch.nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    from nas.profiling.cost import count_macs, count_params

    return float(count_macs(module, input_shape)), float(count_params(module))


def _reused(path: str, key: dict[str, Any], archs: list[Any]) -> dict[str, Any]:
    """A previous result, if it measured the same archs with the same stand-alone recipe (its
    seed count may differ: seed ``i`` is always derived the same way, so seeds can be added).

    Raises:
        ConfigError: naming the file and the first setting that differs.
    """
    try:
        prev = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"`reuse` must name a readable ranking result JSON, got {path!r} ({e})") from None
    old_key = LEGACY_KEY | (prev.get("standalone_key") or {})
    for k, v in key.items():
        if k != "standalone_seeds" and old_key.get(k) != v:
            raise ConfigError(f"`reuse` file {path!r} must have the same stand-alone `{k}`, got {old_key.get(k)!r} != {v!r}")
    if [a.arch_id for a in archs] != [r["arch_id"] for r in prev.get("archs", [])]:
        raise ConfigError(f"`reuse` file {path!r} must hold the same architecture sample, got other arch ids")
    return prev


def _reused_supernets(prev: dict[str, Any], recipe: dict[str, Any], bn_per_width: bool, seeds: int) -> dict[str, list[float]]:
    """The supernet accuracies of a previous result with the same supernet recipe and >= ``seeds`` seeds.

    Raises:
        ConfigError: naming the first setting that differs.
    """
    old = prev.get("recipe", {}) | {"bn_per_width": prev.get("variant", {}).get("bn_per_width")}
    for k, v in (recipe | {"bn_per_width": bn_per_width}).items():
        if old.get(k) != v:
            raise ConfigError(f"`reuse_supernet` file must have the same supernet `{k}`, got {old.get(k)!r} != {v!r}")
    if int(prev.get("supernet_seeds", 0)) < seeds:
        raise invalid("seeds", f"be at most the {prev.get('supernet_seeds')} supernet seeds of the `reuse_supernet` file", seeds)
    return {f"seed{i}": [float(r["supernet"][f"seed{i}"]) for r in prev["archs"]] for i in range(seeds)}


def _within(sample: str, sa: np.ndarray, sn: dict[str, list[float]], archs: list[Any]) -> dict[str, Any] | None:
    """The per-stratum figures of a stratified sample (None for a uniform one)."""
    if sample == "uniform":
        return None
    return {"stratified_by": sample, "strata": within_strata(sa, sn, [STRATA_KEYS[sample](a) for a in archs])}


def _meets(fid: dict[str, Any], target_tau: float) -> dict[str, bool]:
    tau = fid["summary"]["kendall_tau"]["mean"]
    checks = {"spread_at_least_10_points": fid["standalone_spread_points"] >= 10.0,
              "noise_ceiling_at_least_0.8": fid["noise_ceiling_tau"] >= 0.8,
              "tau_at_least_target": tau >= target_tau, "tau_at_least_90pct_of_ceiling": fid["tau_over_ceiling"] >= 0.9}
    return checks | {"all": all(checks.values())}


def run(space: str = "cnn1d", task: str = "", n_archs: int = 30, seeds: int = 3, standalone_seeds: int = 2, epochs: int = 15,
        supernet_epochs: int = 30, task_samples: int = 0, train_samples: int = 2000, val_samples: int = 1500,
        widths: tuple[int, ...] = (), depths: tuple[int, ...] = (), kernels: tuple[int, ...] = (),
        bn_per_width: bool = False, distill: bool = True, num_random: int = 2, calib_batches: int = 8,
        batch_size: int = 128, lr: float = 5e-3, standalone_init: str = "reset", sample: str = "uniform", workers: int = 1, seed: int = 0,
        target_tau: float = 0.8, reuse: str = "", reuse_supernet: str = "", out: str | None = None, html: str | None = None) -> dict[str, Any]:
    """Measures ranking fidelity and writes JSON (and an HTML scatter beside it).

    Args:
        space: A trainable registered space.
        task: One of the space's tasks (default: its first).
        n_archs: Architectures in the fixed, seeded sample.
        seeds: Supernets trained (seeds derived from ``seed``).
        standalone_seeds: Stand-alone trainings per architecture (averaged; >= 2 for the ceiling).
        epochs: Stand-alone training epochs (warm-up 1 epoch, then cosine to zero).
        supernet_epochs: Supernet training epochs (same schedule; sandwich rule).
        task_samples: mnist1d only: MNIST-1D samples generated (80% train+val, 20% test; 0: the
            task's default 5,000). More samples give a steadier stand-alone reference.
        train_samples: Training samples used by both. val_samples: Validation samples scored.
        widths, depths, kernels: cnn1d variant options (empty: the registered space's).
        bn_per_width: cnn1d: one BatchNorm per width option.
        distill: In-place distillation from the largest subnet. num_random: Random subnets per step.
        calib_batches: BN recalibration batches (of 128) per supernet evaluation.
        batch_size, lr: Batch size and peak learning rate of both recipes.
        standalone_init: ``reset`` (each arch's layers get their own default initialisation) or
            ``slice`` (the exported slices of a freshly built supernet).
        sample: ``uniform`` (a uniform draw of the space), ``bottleneck`` or ``last-width`` (an
            equal share of the archs from each stratum of the narrowest / the last stage's
            width, :mod:`benchmarks.ranking_sample`).
        workers: Processes that run the trainings (1: this process); results do not depend on it.
        seed: Seed of the sample and of every derived seed.
        target_tau: The acceptance target recorded with the result.
        reuse: A previous result JSON whose stand-alone accuracies are reused (same archs and
            stand-alone recipe required), to compare supernet recipes without retraining them;
            when it has fewer stand-alone seeds than ``standalone_seeds``, only the missing seeds
            are trained (seed ``i`` is derived the same way in every run).
        reuse_supernet: A previous result JSON (may be ``reuse``) whose supernet accuracies are
            taken instead of training supernets (same archs, data and supernet recipe required).
        out: JSON file. html: Scatter file (default: ``out`` with ``.html``).
    """
    from nas.search.loop import derive_seed
    from nas.train import TrainConfig

    if n_archs < 5 or seeds < 1 or standalone_seeds < 2:
        raise invalid("n_archs/seeds/standalone_seeds", "be >= 5, >= 1 and >= 2", (n_archs, seeds, standalone_seeds))
    if standalone_init not in ("reset", "slice"):
        raise invalid("standalone_init", "be one of ['reset', 'slice']", standalone_init)
    if sample not in SAMPLES:
        raise invalid("sample", f"be one of {list(SAMPLES)}", sample)
    widths, depths, kernels = (_ints(n, v) for n, v in (("widths", widths), ("depths", depths), ("kernels", kernels)))
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    variant = Variant(space, widths, depths, kernels, bn_per_width)
    sp, build, tasks = variant.build()
    task_name = task or tasks[0]
    if task_name not in tasks:
        raise invalid("task", f"be one of {list(tasks)} for space `{space}`", task_name)
    data = resize_task(_load_task(task_name, seed, task_samples), train_samples, val_samples)
    archs = sample_for(sample, sp, n_archs, derive_seed(seed, 10))
    sa_cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, warmup_epochs=1, num_random=0, distill=False)
    sn_cfg = TrainConfig(epochs=supernet_epochs, batch_size=batch_size, lr=lr, warmup_epochs=1,
                         num_random=num_random, distill=distill)
    sa_key = {"space": space, "task": task_name, "widths": list(widths), "depths": list(depths), "kernels": list(kernels), "seed": seed,
              "standalone_seeds": standalone_seeds, "epochs": epochs, "train_samples": len(data.train),
              "val_samples": len(data.val), "batch_size": batch_size, "lr": lr}
    sa_key |= {"task_samples": task_samples, "standalone_init": standalone_init, "sample": sample}
    prev = _reused(reuse, sa_key, archs) if reuse else None
    old = np.array([r["standalone"] for r in prev["archs"]]).T[:standalone_seeds] if prev else np.zeros((0, n_archs))
    sn_recipe = {"supernet_epochs": supernet_epochs, "distill": distill, "num_random": num_random,
                 "calib_batches": calib_batches, "batch_size": batch_size, "lr": lr}
    data_key = {k: v for k, v in sa_key.items() if k not in ("epochs", "standalone_seeds", "standalone_init")}
    sn_old = _reused_supernets(_reused(reuse_supernet, data_key, archs), sn_recipe, bn_per_width, seeds) if reuse_supernet else None
    sa_seeds = [derive_seed(seed, 20, i) for i in range(len(old), standalone_seeds)]
    sn_seeds = [] if sn_old else [derive_seed(seed, 30, i) for i in range(seeds)]
    _log(f"training {len(sa_seeds)} stand-alone seeds x {n_archs} archs and {len(sn_seeds)} supernets "
         f"({len(old)} stand-alone seeds{' and the supernets' if sn_old else ''} reused)")
    measured, sn, seconds = _measure(variant, data, archs, sa_cfg, sn_cfg, sa_seeds, sn_seeds, calib_batches,
                                     standalone_init, workers, first_seed=len(old))
    sa = np.concatenate([old, measured]) if len(old) else measured
    sn = sn_old or sn
    from nas.supernet.base import seeded_build

    net = seeded_build(lambda: build(sp, data), seed)
    cost = [_cost(net.export(a), data.input_shape) for a in archs]
    macs, params = [c[0] for c in cost], [c[1] for c in cost]
    fid = fidelity(sa, sn, macs, params)
    meets = _meets(fid, target_tau)
    payload = {
        "benchmark": "ranking", "space": space, "task": task_name,
        "variant": {"widths": list(widths), "depths": list(depths), "kernels": list(kernels), "bn_per_width": bn_per_width},
        "n_archs": n_archs, "sample": sample, "sample_strata_bottleneck_width": strata_counts(sp, archs),
        "sample_strata_last_width": strata_counts(sp, archs, "last-width"),
        "supernet_seeds": seeds, "standalone_seeds": standalone_seeds,
        "standalone_key": sa_key, "standalone_reused_from": reuse or None, "standalone_seeds_reused": len(old),
        "supernets_reused_from": reuse_supernet or None,
        "recipe": {"standalone_epochs": epochs, "supernet_epochs": supernet_epochs, "task_samples": task_samples,
                   "train_samples": len(data.train), "val_samples": len(data.val), "batch_size": batch_size, "lr": lr,
                   "standalone_init": standalone_init, "sample": sample, "schedule": "AdamW, 1 warm-up epoch then cosine to 0 (both)",
                   "supernet": "sandwich rule (largest, smallest, num_random random), BN recalibrated per subnet",
                   "distill": distill, "num_random": num_random, "calib_batches": calib_batches},
        **fid,
        "within_strata": _within(sample, sa, sn, archs),
        "target_tau": target_tau, "acceptance": meets, "meets_target": meets["all"],
        "archs": [{"arch_id": a.arch_id, "arch": a.to_dict(), "standalone": sa[:, i].tolist(), "macs": macs[i],
                   "params": params[i], "supernet": {k: v[i] for k, v in sn.items()}} for i, a in enumerate(archs)],
        "seconds": seconds | {"wall_total": time.perf_counter() - t_start, "workers": workers},
        "machine": {"cpus": os.cpu_count(), "threads": 1, "processor": platform.processor() or platform.machine(),
                    "load_avg_at_end": list(os.getloadavg())},
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
