"""Scale figures: evaluation throughput with 1, 2 and 4 Ray workers, and the search loop's own
overhead per evaluation at many table-backed evaluations with SQLite and with PostgreSQL.

Throughput reuses :mod:`benchmarks.throughput` (a briefly trained cnn1d supernet, the same
random subnets on every executor). The Ray cluster declares ``max(4, cores)`` logical CPUs so that
4 workers can start on a 2-core machine: the figure then shows what oversubscription gives.

Overhead runs the real :class:`~nas.search.loop.SearchLoop` with the run-folder recorder on the
``nb201`` table space (15,625 cells; an evaluation is a table lookup), as ``nas search`` would,
once per storage. Overhead per evaluation = (loop wall time - time inside evaluations) / count,
also over the last tenth of the run, where the study and the trial table are largest.
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
import optuna

__all__ = ["run", "loop_overhead"]


class _TimedEvaluator:
    """Wraps an evaluator and adds up the time spent inside it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0

    def evaluate(self, arch: Any, seed: int) -> dict[str, float]:
        t0 = time.perf_counter()
        try:
            return self.inner.evaluate(arch, seed)
        finally:
            self.seconds += time.perf_counter() - t0


def loop_overhead(storage: str | None, evals: int, strategy: str, seed: int, workdir: Path) -> dict[str, float]:
    """One search of ``evals`` table lookups on ``nb201``; the loop's own time per evaluation.

    Args:
        storage: SQLAlchemy URL of the study (``None``: the run folder's SQLite file).
        evals: Distinct evaluations to run.
        strategy: Registered strategy name.
        seed: Run seed.
        workdir: Where the run folder goes.
    """
    import search_spaces  # noqa: F401
    from benchmarks.overhead import _TimedRecorder
    from nas.catalog import SPACES
    from nas.execution.local import LocalExecutor
    from nas.runner import _StoreRecorder
    from nas.search import make_strategy
    from nas.search.budget import Budget
    from nas.search.claims import open_study
    from nas.search.loop import SearchLoop
    from nas.search.objectives import parse_objectives
    from nas.store import RunStore

    spec = SPACES.get("nb201")
    space = spec.build_space()
    evaluator = _TimedEvaluator(spec.build_evaluator(space, spec.tasks[0], spec.devices[0]))
    metric = "latency_ms" if "latency_ms" in spec.metrics else sorted(spec.metrics)[-1]
    objectives = parse_objectives(f"accuracy:max,{metric}:min")
    name = f"scale-{strategy}-{'pg' if storage and storage.startswith('postgresql') else 'sqlite'}-{os.getpid()}"
    store = RunStore.create(workdir, name, {"strategy": strategy}, {"spent": {}})
    strat = make_strategy(strategy, seed, population_size=50)
    study = open_study(storage or store.study_url, name, [o.direction for o in objectives], strat.make_sampler())
    strat.bind(study, space, objectives, ())
    recorder = _TimedRecorder(_StoreRecorder(store))
    loop = SearchLoop(study, space, strat, LocalExecutor(evaluator), objectives, (), Budget(evaluations=evals),
                      recorder, seed)
    t0 = time.perf_counter()
    loop.run()
    wall = time.perf_counter() - t0
    stamps = np.diff(np.asarray([t0, *recorder.stamps]))
    tail = stamps[-max(1, evals // 10):]
    done = loop.spent.evaluations
    return {"evaluations": float(done), "wall_s": wall, "evaluation_s": evaluator.seconds,
            "overhead_ms_per_eval": 1000.0 * (wall - evaluator.seconds) / max(1, done),
            "overhead_ms_last_tenth": 1000.0 * float(tail.mean()),
            "recording_ms_per_eval": 1000.0 * recorder.seconds / max(1, done)}


def run(workers: str = "1,2,4", n_archs: int = 40, epochs: int = 3, evals: int = 10000,
        strategy: str = "random", pg_url: str = "", storages: str = "sqlite,postgresql", seed: int = 0,
        out: str | None = None) -> dict[str, Any]:
    """Throughput with each Ray worker count, then loop overhead with SQLite and PostgreSQL.

    Args:
        workers: Comma-separated Ray worker counts (empty: skip the throughput part).
        n_archs: Subnets scored per executor in the throughput part.
        epochs: Supernet training epochs before timing throughput.
        evals: Table-backed evaluations per overhead search (0 skips the overhead part).
        strategy: Strategy of the overhead searches.
        pg_url: PostgreSQL URL; empty starts a throw-away server (skipped, saying why, if none).
        storages: Which storages the overhead part measures (``sqlite``, ``postgresql``).
        seed: Seed.
        out: JSON file to write.
    """
    counts = [int(x) for x in workers.split(",") if x.strip()]
    if workers.strip() and (not counts or min(counts) < 1):
        raise ValueError(f"`workers` must be positive counts (empty: skip the throughput part), got {workers!r}")
    payload: dict[str, Any] = {"benchmark": "scale", "cpus": os.cpu_count(),
                               "machine": platform.processor() or platform.machine()}
    if counts:
        payload["throughput"] = _throughput(counts, workers, n_archs, epochs, seed)
    if evals > 0:
        payload["overhead"] = _overheads(evals, strategy, pg_url, seed, storages)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def _throughput(counts: list[int], workers: str, n_archs: int, epochs: int, seed: int) -> dict[str, Any]:
    from benchmarks import throughput
    from nas.execution.ray_executor import ensure_ray

    ensure_ray(None, num_cpus=max(max(counts), os.cpu_count() or 1))
    try:
        return throughput.run(n_archs=n_archs, workers=workers, epochs=epochs, seed=seed)
    finally:
        import ray

        ray.shutdown()


def _overheads(evals: int, strategy: str, pg_url: str, seed: int, storages: str) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, Any] = {"evals": evals, "strategy": strategy, "space": "nb201"}
    wanted = {x.strip() for x in storages.split(",") if x.strip()}
    if not wanted <= {"sqlite", "postgresql"} or not wanted:
        raise ValueError(f"`storages` must name sqlite and/or postgresql, got {storages!r}")
    server = None
    if "postgresql" in wanted and not pg_url:
        from nas.testing import start_server

        try:
            server = start_server()
            pg_url = server.url
        except RuntimeError as e:
            results["postgresql"] = {"skipped": str(e)}
    try:
        with tempfile.TemporaryDirectory(prefix="nas-scale-") as tmp:
            for label, url in (("sqlite", None), ("postgresql", pg_url or None)):
                if label not in wanted or label == "postgresql" and not pg_url:
                    continue
                results[label] = loop_overhead(url, evals, strategy, seed, Path(tmp))
                print(f"{label:10s} {results[label]['overhead_ms_per_eval']:.1f} ms/eval "
                      f"(last tenth {results[label]['overhead_ms_last_tenth']:.1f})", flush=True)
    finally:
        if server is not None:
            server.stop()
    return results
