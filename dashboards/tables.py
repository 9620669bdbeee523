"""Tables of the dashboards: the runs list, a page of a run's trials, the top architectures.

All pure: they read :class:`~dashboards.data.RunView` objects and return NamedTuples that the
Dash layout and the HTML report render. The trials table is paged, sorted and filtered on the
server so that a run of thousands of trials ships one page to the browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from dashboards.data import RunView
from nas.catalog import SPACES
from nas.search.budget import parse_budget

__all__ = ["RunRow", "RunsTableInfo", "TrialsPage", "TopArchsInfo", "_runs_table_info", "trials_frame",
           "_trials_page_info", "parse_filter", "_top_archs_info", "arch_values", "describe_arch",
           "registered_space", "RunMetaInfo", "_run_meta_info"]


class RunRow(NamedTuple):
    """One run in the runs list."""

    run: str
    status: str
    strategy: str
    space: str
    task: str
    device: str
    objectives: str
    evaluations: int
    budget_evaluations: int | None
    seconds: float
    budget_seconds: float | None
    front_size: int
    hypervolume: float
    error: str


class RunsTableInfo(NamedTuple):
    """The runs list."""

    rows: list[RunRow]


def _budget(cfg: dict[str, Any]) -> tuple[int | None, float | None]:
    try:
        b = parse_budget(cfg.get("budget"))  # type: ignore[arg-type]
    except Exception:  # an odd budget must not hide the run
        return None, None
    return b.evaluations, b.seconds


def _runs_table_info(views: Sequence[RunView]) -> RunsTableInfo:
    """One row per run: status, settings, spent against the budget, front size, hypervolume."""
    rows = []
    for v in views:
        cfg, spent = v.config, v.manifest.get("spent", {}) or {}
        evals, secs = _budget(cfg)
        rows.append(RunRow(
            v.run_id, v.status, str(cfg.get("strategy", "?")), str(cfg.get("space", "?")), str(cfg.get("task", "?")),
            str(cfg.get("device", "?")), ", ".join(str(o) for o in v.objectives),
            max(int(spent.get("evaluations", 0)), len(v.completed())), evals, float(spent.get("seconds", 0.0)),
            secs, len(v.front), float(v.hypervolume), v.error))
    return RunsTableInfo(rows)


def arch_values(arch_json: Any) -> dict[str, Any]:
    """An architecture's choices from its stored JSON (``{}`` when unreadable)."""
    try:
        values = json.loads(arch_json) if isinstance(arch_json, str) else dict(arch_json)
    except (TypeError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def registered_space(name: str) -> tuple[Any, Any] | None:
    """``(spec, space)`` of an already registered space, else ``None``.

    Prefix factories (``table:<csv>``) are never triggered: a name read from a run folder must
    not make the dashboard open files that the name points to.
    """
    if name not in SPACES.names():
        return None
    spec = SPACES.get(name)
    return spec, spec.build_space()


def describe_arch(space_name: str, arch_json: Any) -> str:
    """Short form of an architecture: the space's formatter when registered, else ``k=v`` pairs."""
    found = registered_space(space_name)
    if found is not None:
        return _short(found[0], found[1], arch_json)
    return " ".join(f"{k}={v}" for k, v in arch_values(arch_json).items())


def trials_frame(view: RunView) -> pd.DataFrame:
    """The run's trials as shown: choices in short form, rounded metrics, yes/no flags (memoised)."""

    def build() -> pd.DataFrame:
        df = view.trials
        if df.empty:
            return pd.DataFrame(columns=["trial", "arch_id", "choices", "state"])
        out = pd.DataFrame({"trial": df["trial"].astype(int) if "trial" in df else np.arange(len(df))})
        found = registered_space(str(view.config.get("space", "")))
        plain = (None, None)
        short = {a: _short(*(found or plain), a) for a in df["arch"].unique()} if "arch" in df else {}
        for col in ("arch_id", "state"):
            if col in df:
                out[col] = df[col].astype(str)
        if "arch" in df:
            out.insert(2, "choices", df["arch"].map(short))
        for col in ("feasible", "on_front"):
            if col in df:
                out[col] = np.where(df[col].fillna(False).astype(bool), "yes", "no")
        extra = [c for c in df.columns if c.startswith(("pred", "predicted_")) or c.endswith(("_pred", "_predicted"))]
        for col in [*view.metrics(), *extra, "violation", "wall_s"]:
            if col in df and col not in out:
                out[col] = pd.to_numeric(df[col], errors="coerce").round(4)
        for col in ("worker", "error"):
            if col in df:
                out[col] = df[col].astype(str)
        return out

    return view.memoized("trials_frame", build)


def _short(spec: Any, space: Any, arch_json: str) -> str:
    if spec is None:
        return " ".join(f"{k}={v}" for k, v in arch_values(arch_json).items())
    try:
        return str(spec.describe(space.arch_from_json(arch_json)))
    except Exception:  # not an arch of this space
        return " ".join(f"{k}={v}" for k, v in arch_values(arch_json).items())


_FILTER = re.compile(r"^\{(?P<col>[^}]+)\}\s+(?P<op>[si]?(?:contains|datestartswith)|[si]?(?:>=|<=|!=|>|<|=)|"
                     r"eq|ne|lt|le|gt|ge)\s+(?P<val>.+)$")
_OPS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def parse_filter(query: str) -> list[tuple[str, str, str]]:
    """Dash DataTable ``filter_query`` (``{col} op value && ...``) as (column, op, value) triples.

    Parts that are not understood are dropped (the table then shows more rows, never an error).
    """
    out = []
    for part in (query or "").split(" && "):
        m = _FILTER.match(part.strip())
        if not m:
            continue
        op = m["op"][1:] if m["op"][:1] in ("s", "i") else m["op"]
        val = m["val"].strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "\"'`":
            val = val[1:-1]
        out.append((m["col"], _OPS.get(op, op), val))
    return out


def _apply_filter(df: pd.DataFrame, col: str, op: str, val: str) -> pd.DataFrame:
    if col not in df:
        return df
    s = df[col]
    if op in ("contains", "datestartswith"):
        text = s.astype(str)
        return df[text.str.contains(val, regex=False, case=False) if op == "contains" else text.str.startswith(val)]
    try:
        num: Any = float(val)
        s = pd.to_numeric(s, errors="coerce") if s.dtype == object else s
    except ValueError:
        num, s = val, s.astype(str)
    cmp = {"=": s == num, "!=": s != num, "<": s < num, "<=": s <= num, ">": s > num, ">=": s >= num}
    return df[cmp[op]] if op in cmp else df


class TrialsPage(NamedTuple):
    """One page of the trials table."""

    columns: list[str]
    rows: list[dict[str, Any]]
    page_count: int
    total: int
    matched: int


def _trials_page_info(frame: pd.DataFrame, page: int = 0, size: int = 20,
                      sort_by: Sequence[dict[str, str]] = (), filter_query: str = "") -> TrialsPage:
    """Filters, sorts and slices the trials frame (0-based ``page``)."""
    size = max(1, int(size))
    df = frame
    for col, op, val in parse_filter(filter_query):
        df = _apply_filter(df, col, op, val)
    valid = [s for s in sort_by or () if s.get("column_id") in df]
    if valid:
        df = df.sort_values([s["column_id"] for s in valid], ascending=[s.get("direction") == "asc" for s in valid],
                            kind="stable")
    pages = max(1, -(-len(df) // size))
    page = min(max(0, int(page or 0)), pages - 1)
    chunk = df.iloc[page * size:(page + 1) * size]
    rows = json.loads(chunk.to_json(orient="records"))  # NaN -> null, numpy -> plain types
    return TrialsPage(list(frame.columns), rows, pages, len(frame), len(df))


class TopArchsInfo(NamedTuple):
    """The front's architectures, best first objective first."""

    columns: list[str]
    rows: list[dict[str, Any]]


def _top_archs_info(view: RunView, k: int = 20) -> TopArchsInfo:
    """Up to ``k`` front rows with their choices and metrics."""
    frame = trials_frame(view)
    if "on_front" not in frame or view.front.empty:
        return TopArchsInfo(["trial", "arch_id", "choices"], [])
    order = {int(t): i for i, t in enumerate(view.front["trial"])}
    top = frame[frame["on_front"] == "yes"].copy()
    top = top.iloc[np.argsort([order.get(int(t), 1 << 30) for t in top["trial"]], kind="stable")].head(k)
    cols = [c for c in ["trial", "arch_id", "choices", *view.metrics()] if c in top]
    return TopArchsInfo(cols, json.loads(top[cols].to_json(orient="records")))


class RunMetaInfo(NamedTuple):
    """A run's metadata as (name, value) pairs, in display order."""

    run_id: str
    items: list[tuple[str, str]]


def _run_meta_info(view: RunView) -> RunMetaInfo:
    """Status, settings, budget spent against the budget, front, seeds and versions of a run."""
    cfg, m = view.config, view.manifest
    spent = m.get("spent", {}) or {}
    evals, secs = _budget(cfg)
    done = max(int(spent.get("evaluations", 0)), len(view.completed()))
    items = [
        ("status", view.status),
        ("space / task", f"{cfg.get('space', '?')} / {cfg.get('task', '?')}"),
        ("strategy", str(cfg.get("strategy", "?"))),
        ("device", str(cfg.get("device", "?"))),
        ("objectives", ", ".join(str(o) for o in view.objectives)),
        ("constraints", ", ".join(str(c) for c in cfg.get("constraints") or []) or "none"),
        ("evaluations", f"{done}" + (f" of {evals}" if evals else "") + f" ({int(spent.get('failed', 0))} failed)"),
        ("search time", f"{float(spent.get('seconds', 0.0)):.1f} s" + (f" of {secs:.0f} s" if secs else "")),
        ("training time", f"{float(spent.get('train_s', 0.0)):.1f} s"),
        ("front size", str(len(view.front))),
        ("hypervolume", f"{view.hypervolume:.4g}"),
        ("seed", str(cfg.get("seed", "?"))),
        ("created", str(m.get("created_at", "?"))),
    ]
    for key in ("finished_at", "stop_reason", "error"):
        if m.get(key):
            items.append((key.replace("_", " "), str(m[key])))
    versions = m.get("versions") or {}
    if versions:
        items.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if view.error:
        items.append(("read error", view.error))
    return RunMetaInfo(view.run_id, items)
