"""Ensemble search benchmark (``nas bench ensemble``) on ``cnn1d`` / MNIST-1D.

(a) **Fronts at equal evaluation budget.** Two real runs through the run machinery
(``nas.runner.new_run`` + ``execute``, local executor, same seed, strategy and number of
evaluations): single-model search (``sharing.kind: none``) and ensemble search
(``sharing.kind: ensemble``, diversity-guided shrinking on). Afterwards every evaluated
architecture of both runs is re-timed in one interleaved pass (its exported static module,
1 thread, batch 1, the same protocol) so that machine load drifts alike for both; fronts are
validation accuracy (max) against that latency (min). Reported: both hypervolumes against one
reference point (the lowest accuracy and highest latency of either run), and the latency
intervals over which the ensemble front's best accuracy at that latency is higher than the
single-model front's.

(b) **Ranking fidelity of the ensemble supernet.** ``n_rank`` distinct ensembles sampled (seeded)
from the shrunk space are trained stand-alone (each its exported module, freshly initialised, the
members' summed losses with the trunk gradient divided by K, ``standalone_epochs`` epochs) and
scored through two ensemble supernets trained with the same recipe and seeds: the one of run (a)
(with shrinking) and one trained without shrinking. Reported: Kendall tau and Spearman of each
against the stand-alone accuracies, beside the free proxies (parameters, MACs).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["run", "pareto_front", "hypervolume", "dominance_intervals"]


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated ``(accuracy, latency)`` points (accuracy max, latency min), by latency."""
    front: list[tuple[float, float]] = []
    for acc, lat in sorted(points, key=lambda p: (p[1], -p[0])):
        if not front or acc > front[-1][0]:
            front.append((acc, lat))
    return front


def hypervolume(front: list[tuple[float, float]], ref_acc: float, ref_lat: float) -> float:
    """Area dominated by ``front`` above ``ref_acc`` and below ``ref_lat`` (accuracy x ms)."""
    area, best = 0.0, ref_acc
    pts = [(a, lat) for a, lat in front if a > ref_acc and lat < ref_lat]
    for (acc, lat), nxt in zip(pts, [p[1] for p in pts[1:]] + [ref_lat]):
        best = max(best, acc)
        area += (best - ref_acc) * (nxt - lat)
    return area


def _best_at(front: list[tuple[float, float]], lat: float) -> float:
    return max((a for a, t in front if t <= lat), default=float("-inf"))


def dominance_intervals(ens: list[tuple[float, float]], single: list[tuple[float, float]]) -> list[list[float]]:
    """Latency intervals ``[lo, hi)`` where the ensemble front's best accuracy is strictly higher."""
    grid = sorted({t for _, t in ens} | {t for _, t in single})
    out: list[list[float]] = []
    for lo, hi in zip(grid, grid[1:] + [float("inf")]):
        if _best_at(ens, lo) > _best_at(single, lo):
            if out and out[-1][1] == lo:
                out[-1][1] = hi
            else:
                out.append([lo, hi])
    return out


def _config(runs: Path, kind: str, opts: dict[str, Any]) -> Any:
    from nas.config import load_config

    return load_config(None, {
        "runs_dir": str(runs), "name": f"bench-{kind}", "budget": str(opts["evaluations"]), "strategy": opts["strategy"],
        "seed": opts["seed"], "train.epochs": opts["epochs"], "train.batch_size": opts["batch_size"],
        "train.num_random": opts["num_random"], "train.warmup_epochs": 0, "train.threads": opts["threads"],
        "execution.executor": "local", "eval.latency.warmup": opts["latency_warmup"],
        "eval.latency.repeats": opts["latency_repeats"], "sharing.kind": kind, "sharing.members": opts["members"],
        "sharing.shrink": True})


def _retime(stores: dict[str, Any], warmup: int, repeats: int) -> dict[str, list[tuple[float, float, str]]]:
    """``(accuracy, latency_ms, arch_id)`` of every completed row, re-timed interleaved across runs."""
    from nas.profiling.measure import LatencyProtocol, measure_module
    from nas.runner import load_supernet

    protocol = LatencyProtocol(warmup=warmup, repeats=repeats, threads=1, batch_size=1)
    jobs: dict[str, list[tuple[float, Any, str]]] = {}
    shape = None
    for kind, store in stores.items():
        net, task, _ = load_supernet(store)
        shape = task.input_shape
        rows = [r for r in store.rows() if r.get("state") == "complete"]
        jobs[kind] = [(float(r["accuracy"]), net.export(net.space.arch_from_json(r["arch"])).eval(), r["arch_id"])
                      for r in rows]
    out: dict[str, list[tuple[float, float, str]]] = {k: [] for k in jobs}
    for i in range(max(len(v) for v in jobs.values())):
        for kind in (list(jobs) if i % 2 == 0 else list(jobs)[::-1]):  # alternate who goes first
            if i < len(jobs[kind]):
                acc, module, arch_id = jobs[kind][i]
                out[kind].append((acc, measure_module(module, shape, protocol).median_ms, arch_id))
    return out


def _train_standalone(static: torch.nn.Module, task: Any, epochs: int, lr: float, seed: int) -> float:
    """Trains an exported ensemble alone (summed member losses, trunk gradient / K); val accuracy %."""
    from nas.data import batches
    from nas.evaluate import accuracy
    from nas.sharing.ensemble import DivideGrad

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(static.parameters(), lr=lr, weight_decay=1e-4)
    k = len(static.heads)
    for _ in range(epochs):
        static.train()
        for x, y in batches(task.train, 128, gen):
            opt.zero_grad(set_to_none=True)
            h = static.trunk(x)
            if h.requires_grad:
                h.register_hook(DivideGrad(k))
            sum(F.cross_entropy(head(h), y) for head in static.heads).backward()
            opt.step()
    return accuracy(static.eval(), task.val)


def _ranking(shrunk_net: Any, plain_net: Any, build: Any, task: Any, opts: dict[str, Any]) -> dict[str, Any]:
    from nas.evaluate import EvalConfig, Evaluator, accuracy
    from nas.profiling.cost import count_macs, count_params
    from predictors.metrics import kendall_tau, spearman

    rng = np.random.default_rng(opts["seed"] + 11)
    archs: dict[str, Any] = {}
    for _ in range(50 * opts["n_rank"]):  # bounded: distinct draws from the (shrunk) space
        a = shrunk_net.space.sample(rng)
        archs.setdefault(a.arch_id, a)
        if len(archs) == opts["n_rank"]:
            break
    ev = EvalConfig(calib_batches=4, calib_batch_size=128, score_test=False)
    scorers = {"with_shrink": Evaluator(shrunk_net, task, ev), "without_shrink": Evaluator(plain_net, task, ev)}
    rows = []
    for i, arch in enumerate(archs.values()):
        row: dict[str, Any] = {"arch_id": arch.arch_id, "members": int(arch["members"]), "split": int(arch.get("split", 0))}
        for name, scorer in scorers.items():
            row[name] = accuracy(scorer.static_subnet(arch, seed=i), task.val)
        fresh = build(1000 + i).export(arch)
        row["params"], row["macs"] = count_params(fresh), count_macs(fresh, task.input_shape)
        row["standalone"] = _train_standalone(fresh, task, opts["standalone_epochs"], opts["standalone_lr"], 2000 + i)
        rows.append(row)
    truth = [r["standalone"] for r in rows]
    report = {name: {"kendall_tau": kendall_tau(truth, [r[name] for r in rows]),
                     "spearman": spearman(truth, [r[name] for r in rows])} for name in (*scorers, "params", "macs")}
    return {"n": len(rows), "tau": report, "standalone_range": [min(truth), max(truth)], "ensembles": rows}


def _front_report(timed: dict[str, list[tuple[float, float, str]]]) -> dict[str, Any]:
    pts = {k: [(a, t) for a, t, _ in v] for k, v in timed.items()}
    fronts = {k: pareto_front(v) for k, v in pts.items()}
    ref_acc = min(a for v in pts.values() for a, _ in v)
    ref_lat = max(t for v in pts.values() for _, t in v)
    hv = {k: hypervolume(f, ref_acc, ref_lat) for k, f in fronts.items()}
    wins = dominance_intervals(fronts["ensemble"], fronts["none"])
    lo = max(min(t for _, t in f) for f in fronts.values())
    span = ref_lat - lo
    covered = sum(min(hi, ref_lat) - max(a, lo) for a, hi in wins if min(hi, ref_lat) > max(a, lo))
    return {"reference": {"accuracy": ref_acc, "latency_ms": ref_lat}, "hypervolume": hv,
            "fronts": {k: [{"accuracy": a, "latency_ms": t} for a, t in f] for k, f in fronts.items()},
            "ensemble_dominates_ms": wins, "ensemble_dominates_share_of_common_range": covered / span if span > 0 else 0.0,
            "target_met": bool(wins), "points": {k: [{"accuracy": a, "latency_ms": t, "arch_id": i} for a, t, i in v]
                                                for k, v in timed.items()}}


def run(evaluations: int = 40, epochs: int = 3, members: int = 2, strategy: str = "nsga2", batch_size: int = 256,
        num_random: int = 1, n_rank: int = 20, standalone_epochs: int = 3, standalone_lr: float = 3e-3,
        latency_warmup: int = 20, latency_repeats: int = 100, seed: int = 0, threads: int = 1, workdir: str = "",
        out: str | None = None) -> dict[str, Any]:
    """Runs both parts (see the module docstring) and writes the JSON to ``out`` when given.

    Args:
        evaluations: Evaluations of each search (equal for both).
        epochs: Supernet training epochs (both supernets, and the one without shrinking).
        members: Largest ensemble size K.
        strategy: Search strategy of both runs.
        batch_size: Supernet training batch size.
        num_random: Random subnets/ensembles per sandwich step.
        n_rank: Ensembles of the ranking part.
        standalone_epochs: Training epochs of each stand-alone ensemble.
        standalone_lr: Their learning rate (AdamW).
        latency_warmup: Untimed calls before each timing.
        latency_repeats: Timed calls (median reported).
        seed: Run seed of everything.
        threads: torch threads.
        workdir: Folder for the run folders (empty: a temporary folder).
        out: JSON path.
    """
    opts = {k: v for k, v in locals().items() if k != "out"}
    import search_spaces  # noqa: F401  (registers cnn1d and its ensemble adapter)
    from nas.catalog import SPACES
    from nas.runner import execute, load_supernet, new_run
    from nas.search.loop import derive_seed
    from nas.sharing.ensemble_mode import EnsembleMode
    from nas.sharing.ensemble_train import EnsembleTrainer
    from nas.supernet.base import seeded_build

    torch.set_num_threads(threads)
    runs = Path(workdir or tempfile.mkdtemp(prefix="ens-bench-"))
    t0 = time.perf_counter()
    stores, timings = {}, {}
    for kind in ("none", "ensemble"):
        t = time.perf_counter()
        stores[kind] = new_run(_config(runs, kind, opts))
        execute(stores[kind])
        timings[f"run_{kind}_s"] = time.perf_counter() - t
    timed = _retime(stores, latency_warmup, latency_repeats)
    fronts = _front_report(timed)

    t = time.perf_counter()
    shrunk_net, task, cfg = load_supernet(stores["ensemble"])
    mode = EnsembleMode()
    spec = mode.run_spec(SPACES.get("cnn1d"), cfg, None)  # the full space: no shrinking for this one

    def build(init_seed: int) -> Any:
        return seeded_build(lambda: mode.build_supernet(spec, task, cfg, None), init_seed)

    plain = build(derive_seed(seed, 3))  # the run's initialisation and training seeds
    EnsembleTrainer(plain, task, cfg.train, derive_seed(seed, 1)).fit()
    timings["train_without_shrink_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ranking = _ranking(shrunk_net.eval(), plain.eval(), build, task, opts)
    timings["ranking_s"] = time.perf_counter() - t
    shrink = stores["ensemble"].read_json("ensemble_space.json") or {}
    result = {
        "benchmark": "ensemble", "space": "cnn1d", "task": "mnist1d", "settings": opts,
        "protocol": "latency re-measured for every evaluated architecture in one interleaved pass: 1 thread, "
                    f"batch 1, warm-up {latency_warmup}, median of {latency_repeats} calls, exported static module",
        "runs": {k: s.run_id for k, s in stores.items()}, "fronts": fronts, "ranking": ranking,
        "shrink_history": [{"epoch": h["epoch"], "removed": h["removed"]} for h in shrink.get("history", [])],
        "timings": timings | {"total_s": time.perf_counter() - t0},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count()},
    }
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2, default=float))
    return result
