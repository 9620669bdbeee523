"""Evaluation throughput: evaluations per second in-process and with 1, 2 (or more) Ray workers.

A cnn1d supernet (trained briefly: throughput does not depend on accuracy) scores the same
sample of random subnets on each executor; the figure is completed evaluations per second of
wall time from the first submission to the last outcome (worker start-up reported apart).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["run"]


def _time_executor(executor: Any, archs: list, seed: int) -> dict[str, float]:
    from nas.execution.base import Job

    t0 = time.perf_counter()
    executor.start()
    if hasattr(executor, "workers"):
        executor.workers()  # wait until every actor holds the evaluator
    t1 = time.perf_counter()
    for i, a in enumerate(archs):
        executor.submit(Job(i, a, seed + i))
    done = 0
    for _ in range(100 * len(archs)):  # bounded: each wait returns within its timeout
        done += sum(o.ok for o in executor.wait(timeout=5))
        if executor.pending() == 0:
            break
    t2 = time.perf_counter()
    executor.close()
    return {"startup_s": t1 - t0, "wall_s": t2 - t1, "completed": done, "evals_per_s": done / (t2 - t1)}


def run(n_archs: int = 40, workers: str = "1,2", epochs: int = 3, seed: int = 0, out: str | None = None) -> dict[str, Any]:
    """Measures evaluations per second for the local executor and Ray with each worker count.

    Args:
        n_archs: Random cnn1d subnets scored per executor.
        workers: Comma-separated Ray worker counts.
        epochs: Supernet training epochs before timing.
        seed: Seed of the sample and the training.
        out: JSON file to write.
    """
    import search_spaces  # noqa: F401
    from nas.catalog import SPACES
    from nas.data import TASKS
    from nas.evaluate import EvalConfig, Evaluator
    from nas.execution.local import LocalExecutor
    from nas.execution.ray_executor import RayExecutor, ensure_ray
    from nas.supernet.base import seeded_build
    from nas.train import TrainConfig, Trainer

    spec, task = SPACES.get("cnn1d"), TASKS.get("mnist1d").load(seed)
    space = spec.build_space()
    net = seeded_build(lambda: spec.build_supernet(space, task), seed)
    Trainer(net, task, TrainConfig(epochs=epochs), seed).fit()
    net.eval()

    def fresh() -> Evaluator:  # a new latency cache each time: every executor measures every arch
        return Evaluator(net, task, EvalConfig())

    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n_archs)]
    torch.set_num_threads(1)
    results: dict[str, Any] = {"local": _time_executor(LocalExecutor(fresh()), archs, seed)}
    owns = ensure_ray(None, num_cpus=os.cpu_count())
    try:
        for w in (int(x) for x in workers.split(",")):
            results[f"ray_{w}"] = _time_executor(RayExecutor(fresh(), num_workers=w), archs, seed)
    finally:
        if owns:
            import ray

            ray.shutdown()
    base = results.get("ray_1", {}).get("evals_per_s")
    payload = {
        "benchmark": "throughput", "space": "cnn1d", "task": "mnist1d", "n_archs": n_archs,
        "latency_protocol": "1 thread, warm-up 100, median of 200 calls, batch 1",
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "results": results,
        "speedup_vs_1_worker": {k: v["evals_per_s"] / base for k, v in results.items() if base},
    }
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(payload, indent=2))
    return payload
