"""Learning to Branch: does the learned tree find the right split, and is it worth its parameters?

Two parts, both written into one JSON (``benchmarks/results/branching.json``):

* **synthetic-affinity** (heads 1–2 read latent group A only, heads 3–4 group B only): for each
  of ``affinity_seeds`` seeds, learn the tree (warm-up + Gumbel phase), derive it and take the
  task partition at its first split (the lowest layer where the tasks' paths differ). Score:
  adjusted Rand index against {1,2} | {3,4} (1.0: exactly the right split; a tree that never
  splits scores 0), and how many seeds reach 1.0.
* **mnist1d-multi**: for each of ``train_seeds`` seeds, learn a tree, then train three static
  networks from scratch with the same recipe and node width: the learned tree, all-shared (one
  chain for all heads) and all-separate (one chain per head). Report mean task accuracy
  (validation and test, %), per-head accuracies, parameters and latency (batch 1, 1 thread, the
  three networks' calls interleaved, median and IQR).

Run: ``nas bench branching [--affinity-seeds 10 --train-epochs 15 ...]``.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from nas.data import TASKS, Task, batches
from nas.export.verify import interleaved_latency
from nas.multitask import head_accuracies, multitask_loss
from nas.profiling.measure import LatencyProtocol
from nas.sharing.branching import TreeLearnConfig, learn_tree
from nas.sharing.tree import StaticTree, Tree, build_static_tree
from benchmarks.results_io import write_result

__all__ = ["run", "adjusted_rand", "train_static"]


def adjusted_rand(labels: tuple[int, ...] | list[int], truth: tuple[int, ...] | list[int]) -> float:
    """Adjusted Rand index of two partitions (scikit-learn's, 0.0 for a single-cluster ``labels``)."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(list(truth), list(labels)))


def train_static(module: StaticTree, task: Task, epochs: int, lr: float, batch_size: int, seed: int) -> StaticTree:
    """Trains ``module`` on the summed task losses (Adam, cosine learning rate), left in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    total = max(1, epochs * math.ceil(len(task.train) / batch_size))
    step = 0
    for _ in range(epochs):
        module.train()
        for x, y in batches(task.train, batch_size, gen):
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            opt.zero_grad(set_to_none=True)
            multitask_loss(module(x), y, task.heads).backward()
            opt.step()
            step += 1
    return module.eval()


def _affinity(seeds: int, config: TreeLearnConfig) -> dict[str, Any]:
    from search_spaces.multitask_tasks import AFFINITY_GROUPS

    task = TASKS.get("synthetic-affinity").load(0)
    per_seed = []
    for seed in range(seeds):
        result = learn_tree(task, config, seed)
        layer, labels = result.tree.first_split()
        per_seed.append({"seed": seed, "tree": result.tree.to_dict(), "first_split_layer": layer,
                         "partition": list(labels), "ari": adjusted_rand(labels, AFFINITY_GROUPS),
                         "derived_val_accuracy": result.val_accuracy["accuracy"], "seconds": result.seconds})
    aris = [r["ari"] for r in per_seed]
    return {"task": "synthetic-affinity", "truth": list(AFFINITY_GROUPS), "seeds": seeds,
            "separated": int(sum(a == 1.0 for a in aris)), "mean_ari": float(np.mean(aris)),
            "target": "first split separates {1,2} from {3,4} in >= 8 of 10 seeds", "per_seed": per_seed}


def _score(module: StaticTree, task: Task) -> dict[str, Any]:
    val, test = head_accuracies(module, task.val, task.heads), head_accuracies(module, task.test, task.heads)
    return {"val_accuracy": val["accuracy"], "test_accuracy": test["accuracy"],
            "val_heads": {k: v for k, v in val.items() if k != "accuracy"},
            "params": int(sum(p.numel() for p in module.parameters()))}


def _multi(seeds: int, learn: TreeLearnConfig, width: int, kernel: int, epochs: int, lr: float,
           protocol: LatencyProtocol) -> dict[str, Any]:
    task = TASKS.get("mnist1d-multi").load(0)
    names = tuple(n for n, _ in task.heads)
    depth = len(learn.nodes)
    per_seed = []
    for seed in range(seeds):
        learned = learn_tree(task, learn, seed)
        trees = {"learned": learned.tree, "all-shared": Tree.shared(depth, names), "all-separate": Tree.separate(depth, names)}
        models, row = {}, {"seed": seed, "learned_tree": learned.tree.to_dict(), "learn_seconds": learned.seconds}
        for name, tree in trees.items():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                module = build_static_tree(tree, task.input_shape[0], task.input_shape[-1], task.heads, width, kernel)
            t0 = time.perf_counter()
            models[name] = train_static(module, task, epochs, lr, 128, seed)
            row[name] = _score(models[name], task) | {"train_seconds": time.perf_counter() - t0}
        lat = interleaved_latency({k: m for k, m in models.items()}, task.input_shape, protocol, seed)
        for name, res in lat.items():
            row[name] |= {"latency_ms": res.median_ms, "latency_iqr_ms": res.iqr_ms}
        per_seed.append(row)
    summary = {}
    for name in ("learned", "all-shared", "all-separate"):
        summary[name] = {key: float(np.mean([r[name][key] for r in per_seed]))
                         for key in ("val_accuracy", "test_accuracy", "params", "latency_ms")}
        summary[name]["val_accuracy_std"] = float(np.std([r[name]["val_accuracy"] for r in per_seed]))
    gap = summary["all-separate"]["val_accuracy"] - summary["learned"]["val_accuracy"]
    return {"task": "mnist1d-multi", "seeds": seeds, "summary": summary,
            "learned_minus_separate_val_points": -gap,
            "target_met": bool(gap <= 1.0 and summary["learned"]["params"] < summary["all-separate"]["params"]),
            "target": "learned tree within 1 point of all-separate (mean task accuracy) with fewer parameters",
            "per_seed": per_seed}


def run(affinity_seeds: int = 10, affinity_width: int = 8, tree_warmup: int = 2, tree_epochs: int = 10,
        train_seeds: int = 3, tree_width: int = 16, width: int = 32, kernel: int = 5, train_epochs: int = 15,
        lr: float = 5e-3, warmup: int = 100, repeats: int = 200, skip_multi: bool = False,
        out: str | None = None) -> dict[str, Any]:
    """Runs both parts and writes the JSON.

    Args:
        affinity_seeds: Seeds of the synthetic-affinity tree learning.
        affinity_width: Node width while learning the synthetic-affinity tree.
        tree_warmup: Warm-up epochs (frozen logits) of every tree learning.
        tree_epochs: Gumbel-phase epochs of every tree learning.
        train_seeds: Seeds of the mnist1d-multi comparison (each learns its own tree).
        tree_width: Node width while learning the mnist1d-multi tree.
        width: Node width of the three trained mnist1d-multi networks.
        kernel: Kernel size of every node.
        train_epochs: Training epochs of each mnist1d-multi network.
        lr: Peak learning rate (Adam) of the trained networks.
        warmup: Untimed latency calls per network.
        repeats: Timed latency calls per network (interleaved).
        skip_multi: Only the synthetic-affinity part.
        out: JSON file to write.
    """
    torch.set_num_threads(1)
    start = time.perf_counter()
    nodes = (1, 2, 4)
    aff_cfg = TreeLearnConfig(nodes=nodes, width=affinity_width, kernel=kernel, warmup_epochs=tree_warmup, epochs=tree_epochs)
    result: dict[str, Any] = {"benchmark": "branching", "machine": {"python": platform.python_version(),
                              "torch": torch.__version__, "cpus": os.cpu_count(), "torch_threads": 1,
                              "load_avg": list(os.getloadavg())}}
    result["affinity"] = _affinity(affinity_seeds, aff_cfg) | {"settings": asdict(aff_cfg)}
    if not skip_multi:
        learn = TreeLearnConfig(nodes=nodes, width=tree_width, kernel=kernel, warmup_epochs=tree_warmup, epochs=tree_epochs)
        protocol = LatencyProtocol(warmup=warmup, repeats=repeats, threads=1, batch_size=1)
        result["mnist1d_multi"] = _multi(train_seeds, learn, width, kernel, train_epochs, lr, protocol) | {
            "settings": {"learn": asdict(learn), "width": width, "kernel": kernel,
                         "train_epochs": train_epochs, "lr": lr, "batch_size": 128,
                         "latency": {"warmup": warmup, "repeats": repeats, "threads": 1, "batch_size": 1,
                                     "interleaved": True}}}
    result["seconds"] = time.perf_counter() - start
    if out:
        write_result(result, out)
    return result
