"""Search-loop overhead: the loop's own time per evaluation, everything but the evaluation itself.

The real :class:`~nas.search.loop.SearchLoop` runs ``evals`` evaluations of the cnn1d space with
its run-folder recorder (``trials.parquet``, ``events.jsonl``, ``strategy.json``, manifest) and
an Optuna study in SQLite, exactly as ``nas search`` does; only the evaluator is instant (metrics
computed from the architecture, no supernet). Overhead per evaluation = (loop wall time − time
spent inside evaluations) / evaluations, reported over the whole run and over the last tenth
(where the growing study and trial table cost most), with the share spent recording the run and
the driver's CPU time (on a shared machine wall time also counts waiting for a core and the disk).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna

__all__ = ["run", "measure"]

TARGET_MS = 50.0


class _InstantEvaluator:
    """Metrics from the architecture's choices, with the time spent inside evaluations."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def evaluate(self, arch: Any, seed: int) -> dict[str, float]:
        t0 = time.perf_counter()
        size = sum(float(v) for _, v in arch.items)
        out = {"accuracy": 50.0 + (size * 7.3) % 40.0, "latency_ms": size / 100.0}
        self.seconds += time.perf_counter() - t0
        return out


class _TimedRecorder:
    """The run store's recorder, timed; remembers when each evaluation finished."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.stamps = inner, 0.0, []

    def record(self, row: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        self.inner.record(row)
        self.seconds += time.perf_counter() - t0
        self.stamps.append(t0)

    def checkpoint(self, strategy_state: dict[str, Any], spent: Any) -> None:
        t0 = time.perf_counter()
        self.inner.checkpoint(strategy_state, spent)
        self.seconds += time.perf_counter() - t0


def measure(strategy: str, evals: int, seed: int, workdir: Path) -> dict[str, float]:
    """Runs one search of ``evals`` instant evaluations; returns the overhead figures (ms)."""
    import search_spaces  # noqa: F401  (registers cnn1d)
    from nas.catalog import SPACES
    from nas.execution.local import LocalExecutor
    from nas.runner import _StoreRecorder
    from nas.search import make_strategy
    from nas.search.budget import Budget
    from nas.search.claims import open_study  # the storage nas search uses (SQLite in WAL mode)
    from nas.search.loop import SearchLoop
    from nas.search.objectives import parse_objectives
    from nas.store import RunStore

    objectives = parse_objectives("accuracy:max,latency_ms:min")
    space = SPACES.get("cnn1d").build_space()
    store = RunStore.create(workdir, f"overhead-{strategy}", {"strategy": strategy}, {"spent": {}})
    strat = make_strategy(strategy, seed, population_size=50)
    study = open_study(store.study_url, "sharenas", [o.direction for o in objectives], strat.make_sampler())
    strat.bind(study, space, objectives, ())
    evaluator, recorder = _InstantEvaluator(), _TimedRecorder(_StoreRecorder(store))
    loop = SearchLoop(study, space, strat, LocalExecutor(evaluator), objectives, (), Budget(evaluations=evals), recorder, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    loop.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stamps = np.diff(np.asarray([t0, *recorder.stamps]))
    tail = stamps[-max(1, evals // 10):]
    return {"evaluations": float(loop.spent.evaluations), "wall_s": wall, "evaluation_s": evaluator.seconds,
            "overhead_ms_per_eval": 1000.0 * (wall - evaluator.seconds) / evals,
            "overhead_cpu_ms_per_eval": 1000.0 * (cpu - evaluator.seconds) / evals,
            "overhead_ms_last_tenth": 1000.0 * float(tail.mean()),
            "recording_ms_per_eval": 1000.0 * recorder.seconds / evals}


def run(evals: int = 1000, strategies: Sequence[str] = ("random", "nsga2"), seed: int = 0,
        before: str = "", out: str | None = None) -> dict[str, Any]:
    """Measures the loop overhead per evaluation for each strategy (SQLite study, run folder on disk).

    Args:
        evals: Evaluations per search.
        strategies: Registered strategy names (``predictor`` also works, its rounds count as overhead).
        seed: Seed of the strategies.
        before: JSON written by this harness at an earlier commit in the same session (same machine,
            same load): its results are kept under ``before`` with the speed-up of each strategy.
        out: JSON file to write.
    """
    if evals < 10:
        raise ValueError(f"`evals` must be at least 10, got {evals}")
    earlier = _read_before(Path(before)) if before else None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nas-overhead-") as tmp:
        for name in strategies:
            results[name] = measure(name, evals, seed, Path(tmp))
            print(f"{name:10s} {results[name]['overhead_ms_per_eval']:.1f} ms/eval", flush=True)
    payload = {"benchmark": "overhead", "space": "cnn1d", "storage": "sqlite", "evals": evals,
               "target_ms_per_eval": TARGET_MS, "cpus": os.cpu_count(),
               "machine": platform.processor() or platform.machine(), "results": results,
               "meets_target": {k: v["overhead_ms_per_eval"] < TARGET_MS for k, v in results.items()}}
    if earlier is not None:
        old = earlier.get("results", {})
        payload["before"] = {"label": earlier.get("label", Path(before).name), "results": old,
                             "overhead_ratio_before_over_now": {k: old[k]["overhead_ms_per_eval"] / v["overhead_ms_per_eval"]
                                                                for k, v in results.items() if k in old}}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def _read_before(path: Path) -> dict[str, Any]:
    """An earlier measurement written by this harness."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"`before` must be a JSON file written by this harness, got {str(path)!r} ({e})") from e
    if not isinstance(earlier.get("results"), dict):
        raise ValueError(f"`before` must hold the `results` of this harness, got keys {sorted(earlier)}")
    return earlier
