"""Terminal output of the CLI: progress bars while a run works, tables of runs and fronts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nas.catalog import SPACES
from nas.results import front_frame, objectives_of, run_summary
from nas.runner import Hooks, config_of, run_spec
from nas.search.loop import Progress as LoopProgress
from nas.store import RunStore
from nas.train import EpochStats

__all__ = ["Display", "front_table", "print_front", "print_runs", "print_run"]

_console = Console(width=None if sys.stdout.isatty() else 160)


class Display:
    """Rich progress bars for training epochs and search evaluations.

    Args:
        quiet: Print nothing but stage lines.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                                 console=_console, disable=quiet)
        self._train: Any = None
        self._search: Any = None
        self._budget_evals: int | None = None
        self._budget_s: float | None = None

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def hooks(self) -> Hooks:
        """Callbacks for :func:`nas.runner.execute`."""
        return Hooks(on_stage=self._stage, on_epoch=self._epoch, on_progress=self._loop)

    def _stage(self, name: str, info: dict[str, Any]) -> None:
        if name == "train":
            self._train = self.progress.add_task("train supernet", total=info["epochs"], info="")
        elif name == "search":
            self._budget_evals, self._budget_s = info.get("evaluations"), info.get("seconds")
            total = self._budget_evals if self._budget_evals is not None else self._budget_s
            unit = "evals" if self._budget_evals is not None else "s"
            self._search = self.progress.add_task(f"search (budget {info['budget']})", total=total,
                                                  completed=info["done"] if unit == "evals" else info["spent_s"],
                                                  info="")
        elif self.quiet:
            _console.print(f"[{name}] {info}")

    def _epoch(self, s: EpochStats) -> None:
        if self._train is not None:
            self.progress.update(self._train, completed=s.epoch,
                                 info=f"loss max {s.loss_max:.3f} sub {s.loss_sub:.3f} ({s.seconds:.1f}s/epoch)")

    def _loop(self, p: LoopProgress) -> None:
        if self._search is not None:
            done = p.spent.evaluations if self._budget_evals is not None else round(p.spent.seconds)
            self.progress.update(self._search, completed=done,
                                 info=f"front {p.front_size}  HV {p.hypervolume:.3g}  failed {p.spent.failed}  "
                                      f"{p.spent.seconds:.0f}s")


def front_table(store: RunStore) -> pd.DataFrame:
    """The Pareto table of a run: arch id, short choices, accuracies, latency, params."""
    objectives = objectives_of(store)
    front = front_frame(store.trials(), objectives)
    if front.empty:
        return pd.DataFrame(columns=["trial", "arch_id", "choices"])
    cfg = config_of(store)
    spec = SPACES.get(cfg.space, "space")
    if spec.trainable:
        spec = run_spec(store)  # a sharing mode may search a derived space (e.g. cnn1d+branching)
    space = spec.build_space()
    out = pd.DataFrame({
        "trial": front["trial"].astype(int),
        "arch_id": front["arch_id"],
        "choices": [spec.describe(space.arch_from_json(a)) for a in front["arch"]],
    })
    for col in ("accuracy", "test_accuracy", "latency_ms", "params", "macs", "predicted_latency_ms",
                "measured_latency_ms", "latency_error_pct", "measured_latency_node"):
        if col in front:
            out[col] = front[col].to_numpy()
    for o in objectives:
        if o.metric not in out:
            out[o.metric] = front[o.metric].to_numpy()
    return out


def print_front(store: RunStore) -> None:
    """Prints the Pareto table of a run."""
    df = front_table(store)
    table = Table(title=f"Pareto front of {store.run_id} ({len(df)} architectures)")
    headers = {"accuracy": "val acc %", "test_accuracy": "test acc %", "latency_ms": "latency ms",
               "params": "params", "macs": "MACs", "predicted_latency_ms": "pred ms",
               "measured_latency_ms": "measured ms", "latency_error_pct": "err %", "measured_latency_node": "node"}
    for col in df.columns:
        table.add_column(headers.get(col, col), justify="right" if col not in ("arch_id", "choices") else "left",
                         no_wrap=True)
    for _, r in df.iterrows():
        table.add_row(*[_fmt(col, r[col]) for col in df.columns])
    _console.print(table)


def _fmt(col: str, v: Any) -> str:
    if col in ("params", "macs", "trial"):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.3f}" if col == "latency_ms" else f"{v:.2f}"
    return str(v)


def print_runs(runs_dir: str) -> None:
    """Prints one line per run in ``runs_dir``."""
    root = Path(runs_dir)
    rows = []
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if (p / "manifest.json").is_file():
            try:
                rows.append(run_summary(RunStore(p)))
            except Exception as e:  # a broken run is listed, not fatal
                rows.append({"run": p.name, "status": f"unreadable ({e})"})
    table = Table(title=f"runs in {root}")
    cols = ["run", "status", "space", "strategy", "budget", "evaluations", "failed", "search_s", "front_size", "hypervolume"]
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*[str(r.get(c, "")) for c in cols])
    _console.print(table)


def print_run(store: RunStore) -> None:
    """Prints a run's summary, manifest highlights and front."""
    summary = run_summary(store)
    for k, v in summary.items():
        _console.print(f"{k:>12}: {v}")
    m = store.manifest()
    for key in ("stop_reason", "error", "seeds", "versions"):
        if key in m:
            _console.print(f"{key:>12}: {m[key]}")
    try:
        print_front(store)
    except Exception as e:  # e.g. a corrupt trials.parquet: the summary above still shows
        _console.print(f"[red]front unavailable: {e}[/red]")
