"""Search efficiency on a table-backed space (DESIGN §5): HV(found) / HV(true front) after K evaluations.

Each strategy runs through the same :class:`~nas.search.loop.SearchLoop` as ``nas search``,
with the same strategy classes (``predictor`` is :class:`~nas.search.PredictorStrategy`); only
the executor differs: an evaluation is a table lookup that reveals both metrics (accuracy and
the device's latency) of the one architecture asked for, so no strategy ever sees a metric of an
architecture it has not evaluated. The reference point is tight: error ``100 - median accuracy``
and the median latency of the whole table. The JSON lists, per device and strategy, the mean
and std over seeds of the hypervolume ratio at every K; a plotly HTML draws the curves.

The table is any CSV shaped like NAS-Bench-201's (an NB201 cell-string column, accuracy
columns, ``*_ms`` latency columns): ``--acc`` and ``--lat`` name the columns to use.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna

from nas.execution.base import Executor, Job, Outcome
from nas.search.budget import Budget, Spent
from nas.search.objectives import parse_objectives
from nas.search.pareto import hypervolume, pareto_mask
from nas.space import Choice, SearchSpace
from benchmarks.results_io import write_result

__all__ = ["TableProblem", "load_problem", "run_strategy", "hv_ratios", "run", "SearchCurves", "curves_info", "plot_curves"]

OBJECTIVES = parse_objectives("accuracy:max,latency_ms:min")
EDGE_LABELS = ("edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2")


@dataclass(frozen=True)
class TableProblem:
    """A table turned into a space whose evaluations are lookups.

    Attributes:
        space: One choice per cell edge (the labels of the ``nb201`` space).
        row_of: ``arch_id`` -> row index of the table.
        accuracy: Accuracy column (percent).
        latency: Device name -> latency column (ms).
        features: Predictor features per row (edge one-hot plus structural features).
    """

    space: SearchSpace
    row_of: dict[str, int]
    accuracy: np.ndarray
    latency: dict[str, np.ndarray]
    features: np.ndarray

    def losses(self, device: str) -> np.ndarray:
        """``(n, 2)`` losses of every row: error (``100 - accuracy``) and latency."""
        return np.stack([100.0 - self.accuracy, self.latency[device]], axis=1)

    def reference(self, device: str) -> np.ndarray:
        """The tight reference point: error at the median accuracy, the median latency."""
        return np.array([100.0 - float(np.median(self.accuracy)), float(np.median(self.latency[device]))])


def load_problem(table: str, acc: str, lat: Sequence[str], arch_col: str = "arch_str") -> TableProblem:
    """Reads the table and builds the lookup problem.

    Raises:
        ValueError: naming ``table`` when a column is missing or a cell string is malformed.
    """
    import pandas as pd

    from predictors import NB201_OPS, nb201_features, parse_nb201

    df = pd.read_csv(table)
    for col in (arch_col, acc, *lat):
        if col not in df.columns:
            raise ValueError(f"`table` must have a column {col!r}, got {list(df.columns)}")
    space = SearchSpace("table_cells", [Choice(label, NB201_OPS) for label in EDGE_LABELS])
    ops = [parse_nb201(s) for s in df[arch_col]]
    row_of = {space.make(dict(zip(EDGE_LABELS, o))).arch_id: i for i, o in enumerate(ops)}
    if len(row_of) != len(df):
        raise ValueError(f"`table` must list each cell once, got {len(df) - len(row_of)} repeated cells")
    feats = np.vstack([nb201_features(o) for o in ops])
    return TableProblem(space, row_of, df[acc].to_numpy(float), {c: df[c].to_numpy(float) for c in lat}, feats)


class _LookupExecutor(Executor):
    """Answers each job at once from the table (an evaluation reveals both metrics)."""

    capacity = 1

    def __init__(self, problem: TableProblem, device: str) -> None:
        self.problem, self.device = problem, device
        self._queue: list[Job] = []

    def submit(self, job: Job) -> None:  # noqa: D102
        self._queue.append(job)

    def pending(self) -> int:  # noqa: D102
        return len(self._queue)

    def wait(self, timeout: float | None = None) -> list[Outcome]:  # noqa: D102
        done, self._queue = self._queue, []
        out = []
        for job in done:
            i = self.problem.row_of[job.arch.arch_id]
            metrics = {"accuracy": float(self.problem.accuracy[i]), "latency_ms": float(self.problem.latency[self.device][i])}
            out.append(Outcome(job, metrics, None, "table"))
        return out


class _Rows:
    """In-memory recorder: the rows in evaluation order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def checkpoint(self, strategy_state: dict[str, Any], spent: Spent) -> None:
        pass


def _make(name: str, seed: int, problem: TableProblem, evals: int) -> Any:
    from nas.search import PredictorStrategy, make_strategy

    if name == "predictor":  # the registered class, given the benchmark's precomputed features
        feats = problem.features
        # The strategy aims at the region the score measures: HV against the median point. Its
        # acquisition's reference point is the median prediction, and errors are capped at the
        # median too: architectures beyond the reference earn no hypervolume, so the accuracy
        # model need not rank them (5 seeds, HV@100 with the cap at 0.75 -> 0.5: raspi4 0.882 -> 0.904).
        return PredictorStrategy(seed, features=lambda a: feats[problem.row_of[a.arch_id]], ref_quantile=0.5,
                                 cap_quantile=0.5)
    return make_strategy(name, seed, population_size=int(min(50, max(8, evals // 5))))


def _predictor_settings(strategy: Any) -> dict[str, Any]:
    """The settings of the benchmark's predictor strategy, as the JSON records them."""
    keys = ("n_initial", "init", "models", "cap_quantile", "ref_quantile", "std_scale", "batch_schedule", "max_batch",
            "batch_growth", "pool_limit")
    return {k: getattr(strategy, k) for k in keys}


def run_strategy(problem: TableProblem, device: str, name: str, seed: int, evals: int) -> np.ndarray:
    """Runs one search; returns the ``(evals, 2)`` losses in evaluation order."""
    from nas.search.loop import SearchLoop

    strategy = _make(name, seed, problem, evals)
    study = optuna.create_study(directions=[o.direction for o in OBJECTIVES], sampler=strategy.make_sampler())
    strategy.bind(study, problem.space, OBJECTIVES, ())
    rows = _Rows()
    loop = SearchLoop(study, problem.space, strategy, _LookupExecutor(problem, device), OBJECTIVES, (),
                      Budget(evaluations=evals), rows, seed)
    loop.run()
    done = [r for r in rows.rows if r["state"] == "complete"]
    return np.array([[100.0 - r["accuracy"], r["latency_ms"]] for r in done]).reshape(-1, 2)


def _timed_search(problem: TableProblem, device: str, name: str, seed: int, evals: int) -> tuple[np.ndarray, float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # also in a pool's process
    t0 = time.perf_counter()
    losses = run_strategy(problem, device, name, seed, evals)
    return losses, time.perf_counter() - t0


def _lazy(problem: TableProblem, group: tuple[str, str], seeds: int, evals: int) -> Iterator[tuple[np.ndarray, float]]:
    for seed in range(seeds):
        yield _timed_search(problem, *group, seed, evals)


def _searches(problem: TableProblem, groups: Sequence[tuple[str, str]], seeds: int, evals: int,
              workers: int) -> dict[tuple[str, str], Iterator[tuple[np.ndarray, float]]]:
    """Per ``(device, strategy)``, an iterator over its seeds' ``(losses, seconds)`` in seed order.

    With ``workers > 1`` every search is submitted at once to a process pool and the iterators
    wait for their own results; otherwise each search runs when its iterator is advanced.
    """
    if workers == 1:
        return {g: _lazy(problem, g, seeds, evals) for g in groups}
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers)
    futures = {g: [pool.submit(_timed_search, problem, *g, seed, evals) for seed in range(seeds)] for g in groups}
    pool.shutdown(wait=False)  # the submitted searches still run; the pool winds down when they are done
    return {g: (f.result() for f in fs) for g, fs in futures.items()}


_SAME_SETTINGS = ("table", "acc", "lat", "evals", "seeds", "ks")


def _reuse(data: dict[str, Any], path: Path) -> None:
    """Copies into ``data`` the results of strategies it does not run from an earlier, complete result."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"`reuse` must be a JSON file written by this harness, got {str(path)!r} ({e})") from e
    differ = {k: (earlier.get(k), data[k]) for k in _SAME_SETTINGS if earlier.get(k) != data[k]}
    if differ or not earlier.get("complete"):
        raise ValueError(f"`reuse` must be a complete result with the same settings, got differences {differ} "
                         f"(complete: {earlier.get('complete')})")
    copied = [s for s in earlier["strategies"] if s not in data["strategies"]]
    for device in data["lat"]:
        for name in copied:
            data["results"][device][name] = earlier["results"][device][name]
    data["strategies"] = data["strategies"] + copied
    data["reused"] = {"from": path.name, "strategies": copied}


def hv_ratios(losses: np.ndarray, ks: Sequence[int], ref: np.ndarray, true_hv: float) -> list[float]:
    """HV of the first ``k`` evaluations over the true front's HV, for each ``k``."""
    return [hypervolume(losses[:k], ref) / true_hv for k in ks]


def run(table: str = "search_spaces/data/nb201/nb201_dev.csv.gz", acc: str = "c10_valid_acc_200ep",
        lat: Sequence[str] = ("raspi4_ms", "fpga_ms", "gold_6226_ms", "titanxp_1_ms"), evals: int = 300, seeds: int = 5,
        strategies: Sequence[str] = ("predictor", "nsga2", "tpe", "random"), ks: Sequence[int] = (25, 50, 100, 200, 300),
        arch_col: str = "arch_str", out: str | None = None, html: str = "", workers: int = 1,
        reuse: str = "") -> dict[str, Any]:
    """Measures HV ratios per device, strategy and seed.

    Args:
        table: CSV (optionally gzipped) with a cell-string column, accuracy and latency columns.
        acc: Accuracy column (percent).
        lat: Latency columns (one device each).
        evals: Evaluations per search.
        seeds: Seeds ``0..seeds-1`` per strategy and device.
        strategies: Registered strategy names.
        ks: Evaluation counts at which the ratio is reported (each at most ``evals``).
        arch_col: Cell-string column.
        out: JSON file to write.
        html: Plotly HTML file (default: beside ``out``, ``.html``).
        workers: Searches run at once in separate processes (each search stays sequential and
            seeded, so the figures do not depend on it).
        reuse: JSON written by this harness with the same table, columns, evaluations, seeds and
            ``ks``: the strategies it measured that ``strategies`` does not name are copied into
            this result (e.g. the plain Optuna baselines when only ``predictor`` changed).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if seeds < 1 or evals < 1 or any(not 1 <= k <= evals for k in ks):
        raise ValueError(f"`seeds` and `evals` must be positive and `ks` within [1, evals], got {seeds}, {evals}, {list(ks)}")
    if workers < 1:
        raise ValueError(f"`workers` must be at least 1, got {workers}")
    problem = load_problem(table, acc, list(lat), arch_col)
    results: dict[str, Any] = {}
    data = {"benchmark": "search", "table": Path(table).name, "acc": acc, "lat": list(lat), "evals": evals,
            "seeds": seeds, "ks": [int(k) for k in ks], "strategies": list(strategies),
            "reference": "error: 100 - median accuracy; latency: median latency (whole table)",
            "cpus": os.cpu_count(), "machine": platform.machine(), "workers": workers, "complete": False,
            "results": results}
    if "predictor" in strategies:
        data["predictor_settings"] = _predictor_settings(_make("predictor", 0, problem, evals))
    t_start = time.perf_counter()
    for device in lat:
        all_losses, ref = problem.losses(device), problem.reference(device)
        true_front = all_losses[pareto_mask(all_losses)]
        results[device] = {"reference": ref.tolist(), "true_hv": hypervolume(true_front, ref),
                           "true_front_in_box": int(np.all(true_front < ref, axis=1).sum())}
    if reuse:
        _reuse(data, Path(reuse))
    groups = [(device, name) for device in lat for name in strategies]
    searches = _searches(problem, groups, seeds, evals, workers)
    for device, name in groups:
        ref, true_hv = problem.reference(device), results[device]["true_hv"]
        runs = [next(searches[(device, name)]) for _ in range(seeds)]
        arr = np.asarray([hv_ratios(losses, ks, ref, true_hv) for losses, _ in runs])
        results[device][name] = {"mean": arr.mean(axis=0).tolist(), "std": arr.std(axis=0).tolist(),
                                 "per_seed": arr.tolist(), "seconds_per_search": float(np.mean([t for _, t in runs]))}
        print(f"{device:14s} {name:10s} " + " ".join(f"K={k}:{m:.3f}" for k, m in zip(ks, arr.mean(axis=0))), flush=True)
        if out:  # partial results survive an interrupted run (``complete`` stays false)
            write_result(data | {"total_s": round(time.perf_counter() - t_start, 1)}, out)
    data |= {"complete": True, "total_s": round(time.perf_counter() - t_start, 1)}
    if out:
        write_result(data, out)
        html = html or str(Path(out).with_suffix(".html"))
    if html:
        plot_curves(curves_info(data)).write_html(html, include_plotlyjs="cdn")
    return data


class SearchCurves(NamedTuple):
    """Mean and std HV-ratio curves: ``curves[device][strategy] = (mean, std)`` over ``ks``."""

    ks: list[int]
    curves: dict[str, dict[str, tuple[list[float], list[float]]]]


def curves_info(data: dict[str, Any]) -> SearchCurves:
    """The curves drawn by :func:`plot_curves`, from a result of :func:`run`."""
    curves = {dev: {s: (r[s]["mean"], r[s]["std"]) for s in data["strategies"] if s in r} for dev, r in data["results"].items()}
    return SearchCurves(list(data["ks"]), curves)


def plot_curves(info: SearchCurves) -> Any:
    """One panel per device: HV ratio against evaluations, a line per strategy with std bars."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=max(1, len(info.curves)), subplot_titles=list(info.curves), shared_yaxes=True)
    for col, (device, by_strategy) in enumerate(info.curves.items(), start=1):
        for name, (mean, std) in by_strategy.items():
            fig.add_scatter(x=info.ks, y=mean, error_y={"type": "data", "array": std}, name=name, legendgroup=name,
                            showlegend=col == 1, row=1, col=col)
        fig.update_xaxes(title_text="evaluations", row=1, col=col)
    fig.update_yaxes(title_text="HV(found) / HV(true front)", row=1, col=1)
    fig.update_layout(title="Search efficiency on a table-backed space", height=420)
    return fig
