"""Reading run folders for the dashboards: safe paths, run status and a per-refresh cache.

Everything here only reads: manifests and front files as JSON, configs as safe YAML, trials as
parquet. A run id from the browser is turned into a path by :func:`safe_run_path`, which accepts
only a plain folder name directly inside the runs folder. The Pareto front of a run is computed
once per change of its files (:class:`RunCache`), never per point or per callback.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nas.results import completed, objectives_of
from nas.search.objectives import Objective
from nas.search.pareto import hypervolume, pareto_mask, reference_point, to_losses
from nas.store import RUN_ID_RE, RunStore

__all__ = ["RunView", "RunCache", "safe_run_path", "list_runs", "status_label", "direction_of",
           "WATCHED_FILES", "METRICS"]

WATCHED_FILES = ("manifest.json", "config.yaml", "trials.parquet", "trials.jsonl", "front.json", "sharing_plan.json")
METRICS = ("accuracy", "test_accuracy", "latency_ms", "params", "macs")
_RUNNING = ("created", "training", "searching")


def safe_run_path(runs_dir: str | Path, run_id: Any) -> Path | None:
    """The folder of run ``run_id`` inside ``runs_dir``, or ``None`` when it is not one.

    Only a plain run id (letters, digits, ``.``, ``_``, ``-``, no leading dot) naming a folder
    directly inside ``runs_dir`` with a ``manifest.json`` is accepted; symbolic links that leave
    ``runs_dir`` are refused too.
    """
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        return None
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root or not (path / "manifest.json").is_file():
        return None
    return path


def list_runs(runs_dir: str | Path) -> list[Path]:
    """Run folders directly inside ``runs_dir`` (sorted by name; invalid names skipped)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    out = [safe_run_path(root, p.name) for p in sorted(root.iterdir())]
    return [p for p in out if p is not None]


def status_label(manifest: dict[str, Any]) -> str:
    """``running``, ``finished``, ``failed`` or ``stopped`` (a dead writer on this host: stopped)."""
    status = manifest.get("status")
    if status in ("finished", "failed", "stopped"):
        return str(status)
    if status in _RUNNING:
        pid = manifest.get("pid")
        if isinstance(pid, int) and manifest.get("host") == socket.gethostname() and not _alive(pid):
            return "stopped"
        return "running"
    return "unknown"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def direction_of(metric: str, objectives: tuple[Objective, ...] = ()) -> str:
    """``maximize`` or ``minimize`` for ``metric``: from the objectives, else accuracy-like = max."""
    for o in objectives:
        if o.metric == metric:
            return o.direction
    return "maximize" if "acc" in metric else "minimize"


@dataclass
class RunView:
    """One run as the dashboards see it, computed once per change of its files.

    Attributes:
        run_id: The folder name.
        path: The run folder.
        signature: Sizes and modification times of the watched files.
        manifest: ``manifest.json``.
        config: ``config.yaml``.
        objectives: The run's objectives.
        trials: Every recorded row (``trials.parquet`` and the journal's newer rows) plus ``on_front``
            (bool), sorted by trial.
        front: Rows of the feasible Pareto front, best first objective first.
        hypervolume: Hypervolume of the feasible front (nas.results' reference point).
        reference: Reference point in losses.
        sharing_plan: ``sharing_plan.json`` (``SharingPlan.to_dict`` data) when present.
        error: What could not be read (the run is still listed).
    """

    run_id: str
    path: Path
    signature: tuple[Any, ...]
    manifest: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[Objective, ...] = ()
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    front: pd.DataFrame = field(default_factory=pd.DataFrame)
    hypervolume: float = 0.0
    reference: tuple[float, ...] = ()
    sharing_plan: dict[str, Any] | None = None
    error: str = ""
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> str:
        """The run status label (see :func:`status_label`)."""
        return status_label(self.manifest) if self.manifest else "unknown"

    def metrics(self) -> list[str]:
        """Numeric metric columns present: objectives first, then the usual metrics."""
        names = [o.metric for o in self.objectives]
        names += [m for m in METRICS if m not in names]
        return [m for m in names if m in self.trials.columns]

    def completed(self) -> pd.DataFrame:
        """Completed rows."""
        return completed(self.trials)

    def memoized(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per view (that is, once per change of the run's files)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


def signature(path: Path) -> tuple[Any, ...]:
    """Sizes and modification times of a run's watched files (changes when any is replaced)."""
    out: list[Any] = []
    for name in WATCHED_FILES:
        try:
            st = (path / name).stat()
            out.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((name, None, None))
    return tuple(out)


def load_view(path: Path, sig: tuple[Any, ...] | None = None) -> RunView:
    """Reads a run folder and computes its front and hypervolume (Pareto computed once)."""
    view = RunView(path.name, path, sig if sig is not None else signature(path))
    store = RunStore(path)
    try:
        view.manifest = store.manifest()
        view.config = store.config()
        view.objectives = objectives_of(store)
        view.sharing_plan = store.read_json("sharing_plan.json")
        df = store.trials()
    except Exception as e:  # a half-broken run is still listed, with the reason
        view.error = str(e)
        return view
    if not df.empty and "trial" in df:
        df = df.sort_values("trial", kind="stable").reset_index(drop=True)
    df["on_front"] = False
    view.trials = df
    names = [o.metric for o in view.objectives]
    done = completed(df)
    if len(done) == 0 or any(m not in df.columns for m in names):
        return view
    losses = to_losses(done[names].to_numpy(dtype=float), view.objectives)
    feas = done["feasible"].to_numpy(dtype=bool) if "feasible" in done else np.ones(len(done), bool)
    mask = np.zeros(len(done), dtype=bool)
    if feas.any():
        mask[np.flatnonzero(feas)[pareto_mask(losses[feas])]] = True
    df.loc[done.index[mask], "on_front"] = True
    first = view.objectives[0]
    view.front = df[df["on_front"]].sort_values(first.metric, ascending=first.direction == "minimize",
                                                 kind="stable").reset_index(drop=True)
    if len(done) >= 2:
        ref = reference_point(losses)
        view.reference = tuple(float(v) for v in ref)
        view.hypervolume = hypervolume(losses[mask], ref)  # dominated points add no volume
    return view


class RunCache:
    """Run views by folder, recomputed only when a watched file changes (thread-safe, LRU).

    Args:
        max_runs: How many run views to keep.
    """

    def __init__(self, max_runs: int = 32) -> None:
        self.max_runs = max_runs
        self._views: OrderedDict[Path, RunView] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times a view was (re)computed: for tests and benchmarks

    def get(self, path: Path) -> RunView:
        """The current view of the run folder ``path``."""
        sig = signature(path)
        with self._lock:
            view = self._views.get(path)
            if view is not None and view.signature == sig:
                self._views.move_to_end(path)
                return view
        view = load_view(path, sig)
        with self._lock:
            self.loads += 1
            self._views[path] = view
            self._views.move_to_end(path)
            while len(self._views) > self.max_runs:
                self._views.popitem(last=False)
        return view
