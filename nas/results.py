"""Reading results out of a run: the Pareto front, hypervolume and a one-line summary.

Pure functions over ``trials.parquet`` rows; the CLI, ``front.json`` and the dashboards share
them so that every view of a run agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nas.search.objectives import Objective, parse_objectives
from nas.search.pareto import hypervolume, pareto_mask, reference_point, to_losses
from nas.store import RunStore

__all__ = ["completed", "front_frame", "run_hypervolume", "front_payload", "run_summary"]


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of completed evaluations."""
    if df.empty or "state" not in df:
        return df.iloc[0:0]
    return df[df["state"] == "complete"]


def front_frame(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The feasible Pareto front of completed rows, sorted by the first objective (best first)."""
    done = completed(df)
    if "feasible" in done:
        done = done[done["feasible"].astype(bool)]
    if done.empty:
        return done
    losses = to_losses(done[[o.metric for o in objectives]].to_numpy(dtype=float), objectives)
    front = done[pareto_mask(losses)]
    first = objectives[0]
    return front.sort_values(first.metric, ascending=first.direction == "minimize").reset_index(drop=True)


def run_hypervolume(df: pd.DataFrame, objectives: Sequence[Objective]) -> tuple[float, list[float]]:
    """Hypervolume of the feasible front, with the reference point (nadir of all completed rows)."""
    done = completed(df)
    if len(done) < 2:
        return 0.0, []
    all_losses = to_losses(done[[o.metric for o in objectives]].to_numpy(dtype=float), objectives)
    ref = reference_point(all_losses)
    feas = done["feasible"].to_numpy(dtype=bool) if "feasible" in done else np.ones(len(done), bool)
    return hypervolume(all_losses[feas], ref), [float(v) for v in ref]


def front_payload(store: RunStore, objectives: Sequence[Objective]) -> dict[str, Any]:
    """What ``front.json`` holds: objectives, hypervolume, reference point and front rows."""
    df = store.trials()
    front = front_frame(df, objectives)
    hv, ref = run_hypervolume(df, objectives)
    return {
        "objectives": [str(o) for o in objectives],
        "hypervolume": hv,
        "reference_point_losses": ref,
        "evaluations": int(len(completed(df))),
        "front": front.to_dict("records"),
    }


def run_summary(store: RunStore) -> dict[str, Any]:
    """One run in a line: status, strategy, space, evaluations, budget spent, front size, HV."""
    m = store.manifest()
    cfg = store.config()
    row: dict[str, Any] = {
        "run": store.run_id,
        "status": m.get("status", "?"),
        "space": cfg.get("space"),
        "task": cfg.get("task"),
        "strategy": cfg.get("strategy"),
        "budget": str(cfg.get("budget")),
        "evaluations": int(m.get("spent", {}).get("evaluations", 0)),
        "failed": int(m.get("spent", {}).get("failed", 0)),
        "search_s": round(float(m.get("spent", {}).get("seconds", 0.0)), 1),
        "train_s": round(float(m.get("spent", {}).get("train_s", 0.0)), 1),
    }
    try:
        front = store.read_json("front.json", {}) or {}
        row["front_size"] = len(front.get("front", []))
        row["hypervolume"] = round(float(front.get("hypervolume", 0.0)), 4)
    except Exception as e:  # a corrupt front.json must not hide the run
        row["front_size"], row["hypervolume"] = None, None
        row["error"] = str(e)
    return row


def objectives_of(store: RunStore) -> tuple[Objective, ...]:
    """The objectives a run was configured with."""
    return parse_objectives(store.config().get("objectives", "accuracy:max,latency_ms:min"))
