"""``nas bench npas``: accuracy against stored parameters under a parameter budget (NPAS / SSN).

For every budget (a fraction of the natural size of the space's max architecture) and seed, the
harness trains the max architecture of ``--space`` (``cnn1d`` on MNIST-1D, or ``mbconv`` on the
5,000 MNIST images) as a fixed network (as in the paper: the question is the network under a
budget, not the search) with the same recipe for:

* ``learned``: Shapeshifter Network whose layer-to-group mapping comes from a single-bank warm-up
  of ``warmup_epochs`` followed by k-means on what the warm-up changed in the coefficients (the
  warm-up is extra cost, and the grouped network is then trained from scratch for ``epochs``);
  with ``balance`` (the default) the k-means is capacity-constrained so that no group generates
  more than 1.25x or less than 0.75x an equal share of the parameters
  (:func:`nas.sharing.npas.balanced_assign`): plain k-means isolated outlier layers in groups
  whose proportional banks were then tiled many times;
* ``random``: the same number of groups, a seeded random mapping (drawn as before: unbalanced
  partitions are possible);
* ``width``: the same network made narrower until its parameter count is closest to the budget,
  trained stand-alone (budgets below 100%; :mod:`benchmarks.npas_models`); at 100% it is the
  natural network itself.

Reported per budget: mean and std over seeds of test accuracy, stored (trainable) parameters and
inference MACs, and the target checks of issue 8 (learned - width >= 1 point at 10% and 25%,
learned >= random, SSN at 200% >= the natural network at identical inference MACs).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.data import Split, Task, batches
from nas.errors import invalid
from nas.evaluate import accuracy
from nas.profiling.cost import count_macs
from nas.search.loop import derive_seed
from nas.sharing.bank import BankedSupernet, banked_layers
from nas.sharing.npas import default_num_groups, group_loads, learned_groups, random_groups, single_groups
from nas.supernet.base import Supernet, seeded_build
from benchmarks.npas_models import natural_net, params_of, width_net
from benchmarks.results_io import write_result

__all__ = ["run"]

METHODS = ("learned", "random", "width", "random_balanced")
DEFAULT_METHODS = METHODS[:3]
DEFAULT_TASKS = {"cnn1d": "mnist1d", "mbconv": "mnist5k"}
MAX_ARCH = {"cnn1d": "3 stages x 3 blocks, width 48, kernel 7",
            "mbconv": "3 stages x 3 MBConv blocks (widths 8/16/24), kernel 7, expand 6, squeeze-excite"}


def _load(task_name: str, train_size: int) -> Task:
    import search_spaces  # noqa: F401  (registers spaces and tasks)
    from nas.data import TASKS

    task = TASKS.get(task_name).load(0)
    if train_size and train_size < len(task.train):
        task = Task(task.name, task.input_shape, task.num_classes, Split(task.train.x[:train_size], task.train.y[:train_size]),
                    task.val, task.test)
    return task


def _fit(net: nn.Module, task: Task, epochs: int, seed: int, lr: float, batch_size: int) -> dict[str, Any]:
    """Trains ``net`` (a supernet: its max architecture) with AdamW and a cosine schedule; returns
    the seconds spent (``train_s``) and the mean training loss of every epoch (``train_loss``)."""
    if isinstance(net, Supernet):
        net.set_arch(net.max_arch())
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    total = max(1, epochs * math.ceil(len(task.train) / batch_size))
    step, t0, curve = 0, time.perf_counter(), []
    net.train()
    for _ in range(epochs):
        seen, total_loss = 0, 0.0
        for x, y in batches(task.train, batch_size, gen):
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            step += 1
            seen, total_loss = seen + len(y), total_loss + float(loss.detach()) * len(y)
        curve.append(round(total_loss / max(1, seen), 4))
    net.eval()
    return {"train_s": round(time.perf_counter() - t0, 2), "train_loss": curve}


def _score(net: nn.Module, task: Task, fitted: dict[str, Any], **extra: Any) -> dict[str, Any]:
    static = (net.export(net.max_arch()) if isinstance(net, Supernet) else net).eval()
    return {"val_accuracy": accuracy(net, task.val), "test_accuracy": accuracy(net, task.test),
            "stored_params": params_of(net), "inference_params": sum(p.numel() for p in static.parameters()),
            "macs": int(count_macs(static, task.input_shape)), **fitted, **extra}


def _banked(space: str, task: Task, groups: list[int] | None, budget: int, seed: int,
            templates: int) -> BankedSupernet:
    inner = seeded_build(lambda: natural_net(space, task), seed)
    if groups is None:
        groups = single_groups(len(banked_layers(inner)))
    return BankedSupernet(inner, groups, budget, templates, seed=derive_seed(seed, 11))


def _one_budget(space: str, task: Task, frac: float, seed: int, natural: int, fit: Callable[[nn.Module, int], float],
                epochs: int, warmup_epochs: int, templates: int, balance: bool = True,
                methods: tuple[str, ...] = DEFAULT_METHODS) -> dict[str, Any]:
    budget = int(round(frac * natural))
    out: dict[str, Any] = {}
    sizes = [layer.numel for layer in banked_layers(natural_net(space, task))]
    k = default_num_groups(banked_layers(natural_net(space, task)))

    def ssn(name: str, groups: list[int], **extra: Any) -> None:
        net = _banked(space, task, groups, budget, seed, templates)
        out[name] = _score(net, task, fit(net, epochs), groups=groups, group_loads=group_loads(groups, sizes),
                           bank_sizes=net.bank_sizes, **extra)

    if "learned" in methods:
        warm = _banked(space, task, None, budget, seed, templates)
        start = warm.coefficients()
        warm_s = fit(warm, warmup_epochs)["train_s"]
        change = (warm.coefficients() - start).numpy()
        ssn("learned", learned_groups(change, k, derive_seed(seed, 13), sizes=sizes if balance else None),
            warmup_s=warm_s, warmup_coef_change=change.round(5).tolist())
    if "random" in methods:
        ssn("random", random_groups(len(sizes), k, derive_seed(seed, 13)))
    if "random_balanced" in methods:  # the learned procedure fed random features: balance without information
        noise = np.random.default_rng(derive_seed(seed, 14)).normal(size=(len(sizes), templates))
        ssn("random_balanced", learned_groups(noise, k, derive_seed(seed, 13), sizes=sizes))
    if frac < 1.0 and "width" in methods:
        chosen: dict[str, Any] = {}

        def build() -> nn.Module:
            net, info = width_net(space, task, budget)
            chosen.update(info)
            return net

        plain = seeded_build(build, seed)
        out["width"] = _score(plain, task, fit(plain, epochs), **chosen)
    return out


def _seed_record(space: str, task_name: str, train_size: int, seed: int, budgets: tuple[float, ...], epochs: int,
                 warmup_epochs: int, templates: int, lr: float, batch_size: int, threads: int,
                 balance: bool = True, methods: tuple[str, ...] = DEFAULT_METHODS) -> dict[str, Any]:
    """Every network of one seed (top level: it runs in worker processes)."""
    torch.set_num_threads(threads)
    data = _load(task_name, train_size)
    natural = params_of(natural_net(space, data))
    fit = lambda net, e: _fit(net, data, e, derive_seed(seed, 5), lr, batch_size)  # noqa: E731
    record: dict[str, Any] = {"seed": seed, "budgets": {}}
    if "width" in methods:  # the natural network is the width baseline at 100% and the 200% reference
        nat = seeded_build(lambda: natural_net(space, data), seed)
        record["natural"] = _score(nat, data, fit(nat, epochs))
    for frac in budgets:
        record["budgets"][str(frac)] = _one_budget(space, data, frac, seed, natural, fit, epochs, warmup_epochs, templates,
                                                   balance, methods)
        print(f"npas bench: seed {seed} budget {frac}: " + ", ".join(
            f"{k} {v['test_accuracy']:.1f}%" for k, v in record["budgets"][str(frac)].items()), flush=True)
    return record


def _summary(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    vals = np.array([r[key] for r in rows], dtype=float)
    return {"mean": round(float(vals.mean()), 3), "std": round(float(vals.std()), 3)}


def _aggregate(per_seed: list[dict[str, Any]], budgets: Sequence[float]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    with_natural = all("natural" in s for s in per_seed)
    for frac in budgets:
        entry: dict[str, Any] = {}
        for method in METHODS:
            rows = [s["budgets"][str(frac)][method] for s in per_seed if method in s["budgets"][str(frac)]]
            if frac == 1.0 and method == "width" and with_natural:
                rows = [s["natural"] for s in per_seed]
            if rows:
                entry[method] = {k: _summary(rows, k) for k in ("test_accuracy", "val_accuracy", "stored_params",
                                                                "inference_params", "macs")}
        table[str(frac)] = entry
    if with_natural:
        table["natural"] = {k: _summary([s["natural"] for s in per_seed], k)
                            for k in ("test_accuracy", "stored_params", "macs")}
    return table


def _targets(table: dict[str, Any], budgets: Sequence[float]) -> dict[str, Any]:
    """Issue 8's target checks, each where the networks it compares were trained."""
    acc = lambda b, m: table[str(b)][m]["test_accuracy"]["mean"]  # noqa: E731
    has = lambda b, *ms: all(m in table[str(b)] for m in ms)  # noqa: E731
    out: dict[str, Any] = {}
    for b in (0.1, 0.25):
        if b in budgets and has(b, "learned", "width"):
            gap = acc(b, "learned") - acc(b, "width")
            out[f"learned_minus_width_{b}"] = {"points": round(gap, 3), "target": ">= 1", "met": gap >= 1.0}
    for other in ("random", "random_balanced"):
        pairs = [b for b in budgets if has(b, "learned", other)]
        if pairs:
            out[f"learned_ge_{other}"] = {str(b): {"points": round(acc(b, "learned") - acc(b, other), 3),
                                                   "met": acc(b, "learned") >= acc(b, other)} for b in pairs}
    if 2.0 in budgets and has(2.0, "learned") and "natural" in table:
        nat = table["natural"]["test_accuracy"]["mean"]
        same = table["2.0"]["learned"]["macs"]["mean"] == table["natural"]["macs"]["mean"]
        out["ssn_200_vs_natural"] = {"ssn_200": acc(2.0, "learned"), "natural": nat, "same_macs": same,
                                     "met": acc(2.0, "learned") >= nat and same}
    return out


def run(budgets: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0), seeds: int = 3, epochs: int = 4,
        warmup_epochs: int = 1, train_size: int = 0, batch_size: int = 128, lr: float = 5e-3, templates: int = 4,
        task: str = "", threads: int = 1, processes: int = 1, balance: bool = True, space: str = "cnn1d",
        methods: tuple[str, ...] = DEFAULT_METHODS, out: str | None = None) -> dict[str, Any]:
    """Runs the NPAS budget benchmark on ``space`` (see the module docstring).

    Args:
        budgets: Budgets as fractions of the natural parameter count of the max architecture.
        seeds: Seeds (initialisation, batch order, group mapping).
        epochs: Training epochs of every network (the learned warm-up comes on top).
        warmup_epochs: Epochs of the single-bank warm-up that learns the groups.
        train_size: Training samples used (0: the task's whole training split).
        batch_size: Mini-batch size.
        lr: Peak learning rate (AdamW, cosine decay).
        templates: Templates per banked layer.
        task: Task of the space (empty: ``mnist1d`` for cnn1d, ``mnist5k`` for mbconv).
        threads: torch threads (per process).
        processes: Seeds trained in parallel processes (``nice`` the run on a shared machine).
        balance: Learned groups by capacity-constrained k-means (False: plain k-means, as before).
        space: ``cnn1d`` or ``mbconv`` (:mod:`benchmarks.npas_models`).
        methods: Networks trained per budget among ``learned``, ``random``, ``width`` (with it, the
            natural network too) and ``random_balanced`` (a control: the balanced clustering of
            ``learned`` fed random features instead of warm-up coefficients).
        out: Where the JSON goes.
    """
    for name, v in (("seeds", seeds), ("epochs", epochs), ("warmup_epochs", warmup_epochs), ("threads", threads),
                    ("processes", processes)):
        if v < 1:
            raise invalid(f"--{name.replace('_', '-')}", "be at least 1", v)
    if space not in DEFAULT_TASKS:
        raise invalid("--space", f"be one of {sorted(DEFAULT_TASKS)}", space)
    methods = tuple(methods)
    if not methods or any(m not in METHODS for m in methods):
        raise invalid("--methods", f"be a non-empty list among {list(METHODS)}", list(methods))
    task = task or DEFAULT_TASKS.get(space, "")
    torch.set_num_threads(threads)
    data = _load(task, train_size)
    natural = params_of(natural_net(space, data))
    t0 = time.perf_counter()
    jobs = [(space, task, train_size, s, tuple(budgets), epochs, warmup_epochs, templates, lr, batch_size, threads, balance,
             methods) for s in range(seeds)]
    if processes == 1:
        per_seed = [_seed_record(*job) for job in jobs]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(processes, seeds), mp_context=mp.get_context("spawn")) as pool:
            per_seed = list(pool.map(_seed_record, *zip(*jobs)))
    table = _aggregate(per_seed, budgets)
    result = {
        "benchmark": "npas", "space": space, "max_architecture": MAX_ARCH.get(space, space),
        "task": task, "natural_params": natural,
        "settings": {"budgets": list(budgets), "seeds": seeds, "epochs": epochs, "warmup_epochs": warmup_epochs,
                     "train_size": len(data.train), "batch_size": batch_size, "lr": lr, "templates": templates,
                     "threads": threads, "processes": processes,
                     "balance": balance, "methods": list(methods),
                     "learned_groups": "k-means on warm-up coefficient changes (learned - initial)"
                                       + (", capacity-constrained: group loads within 0.75-1.25x an equal share"
                                          if balance else ", plain"),
                     "bank_layout": "templates aligned under the natural size, staggered per layer "
                                    "(o_j = c_j * B // L, read cyclically) at budgets >= 100%; banks "
                                    "proportional, none below its largest layer where the budget allows "
                                    "(nas.sharing.bank_layout)",
                     "metric": "test accuracy (%) of the max architecture, mean/std over seeds"},
        "summary": table, "targets": _targets(table, budgets), "per_seed": per_seed,
        "wall_s": round(time.perf_counter() - t0, 1), "host": {"python": platform.python_version(),
                                                               "torch": torch.__version__, "cpus": os.cpu_count()},
    }
    if out:
        write_result(result, out)
    return result
