"""Pareto-front figures: one run's front (2-D or 3-D) and several runs' fronts overlaid.

Convention 9: ``_front_info`` and ``_compare_info`` are pure and return NamedTuples (tested);
``front_figure`` and ``compare_figure`` only turn them into plotly figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.data import RunView, direction_of
from nas.search.pareto import pareto_mask

__all__ = ["PointSet", "FrontInfo", "CompareSeries", "CompareInfo", "_front_info", "front_figure",
           "_compare_info", "compare_figure", "SELECTED_TRACE", "GL_POINTS"]

SELECTED_TRACE = 3  # index of the "selected" trace in front_figure (patched on click)
GL_POINTS = 1000  # a 2-D trace with more points is drawn with WebGL (thousands of SVG nodes are slow)


class PointSet(NamedTuple):
    """Points of one kind: coordinates per axis, trial numbers and architecture ids."""

    coords: tuple[np.ndarray, ...]
    trials: np.ndarray
    text: list[str]


class FrontInfo(NamedTuple):
    """What the front figure shows.

    Attributes:
        axes: Metric per axis (2 or 3).
        directions: ``maximize``/``minimize`` per axis.
        front: The feasible Pareto front (on the run's objectives).
        dominated: Completed, feasible, dominated points (drawn faded).
        violators: Completed points that break a constraint (marked).
        title: Figure title.
    """

    axes: tuple[str, ...]
    directions: tuple[str, ...]
    front: PointSet
    dominated: PointSet
    violators: PointSet
    title: str


def _points(df: pd.DataFrame, axes: Sequence[str]) -> PointSet:
    trials = df["trial"].to_numpy(dtype=int) if "trial" in df else np.arange(len(df))
    coords = tuple(df[a].to_numpy(dtype=float) for a in axes)
    text = df["arch_id"].astype(str).tolist() if "arch_id" in df else [""] * len(df)
    return PointSet(coords, trials, text)


def _front_info(view: RunView, axes: Sequence[str]) -> FrontInfo:
    """The run's points split into front, dominated and violators, on the chosen axes.

    Args:
        view: The run.
        axes: Two or three metric columns of the run's trials.

    Raises:
        ValueError: when ``axes`` has a wrong length or names a column the trials lack.
    """
    axes = tuple(axes)
    if len(axes) not in (2, 3):
        raise ValueError(f"`axes` must name 2 or 3 metrics, got {list(axes)}")
    done = view.completed()
    missing = [a for a in axes if a not in view.trials.columns]
    if missing and not done.empty:
        raise ValueError(f"`axes` must be metric columns of the run's trials, got {missing}")
    if done.empty:
        empty = PointSet(tuple(np.empty(0) for _ in axes), np.empty(0, dtype=int), [])
        return FrontInfo(axes, tuple(direction_of(a, view.objectives) for a in axes), empty, empty, empty,
                         f"{view.run_id}: no completed evaluation yet")
    feasible = done["feasible"].astype(bool) if "feasible" in done else pd.Series(True, index=done.index)
    on_front = done["on_front"].astype(bool)
    front = _points(done[on_front], axes)
    dominated = _points(done[~on_front & feasible], axes)
    violators = _points(done[~feasible], axes)
    objectives = ", ".join(str(o) for o in view.objectives)
    title = f"{view.run_id}: {len(front.trials)} on the front of {len(done)} evaluated ({objectives})"
    return FrontInfo(axes, tuple(direction_of(a, view.objectives) for a in axes), front, dominated,
                     violators, title)


def _axis_title(metric: str, direction: str) -> str:
    return f"{metric} ({'↑' if direction == 'maximize' else '↓'})"


def front_figure(info: FrontInfo) -> go.Figure:
    """Trace order: dominated, violators, front, selected (see :data:`SELECTED_TRACE`).

    Trial numbers ride along as plain-list ``customdata`` (a typed array would not reach Dash's
    ``clickData``), so a click says which trial it hit.
    """
    three = len(info.axes) == 3
    scatter = go.Scatter3d if three else go.Scatter
    names = ["x", "y", "z"]

    # one template per trace instead of one string per point: a 5,000-trial run ships less
    hover = "trial %{customdata} · %{text}<br>" + " · ".join(
        f"{a}=%{{{names[i]}:.4g}}" for i, a in enumerate(info.axes)) + "<extra></extra>"

    def trace(ps: PointSet, name: str, marker: dict, mode: str = "markers") -> go.BaseTraceType:
        kw = {names[i]: c for i, c in enumerate(ps.coords)}
        kind = go.Scattergl if not three and len(ps.trials) > GL_POINTS else scatter
        return kind(**kw, mode=mode, name=name, marker=marker, customdata=ps.trials.tolist(), text=ps.text,
                       hovertemplate=hover)

    size = 4 if three else 7
    fig = go.Figure([
        trace(info.dominated, "dominated", {"color": "rgba(120,120,120,0.3)", "size": size}),
        trace(info.violators, "constraint violators",
              {"color": "rgba(214,39,40,0.7)", "symbol": "x", "size": size}),
        trace(info.front, f"Pareto front ({len(info.front.trials)})",
              {"color": "#1f77b4", "size": size + 4, "line": {"color": "#0b3a66", "width": 1}}),
        scatter(**{names[i]: [] for i in range(len(info.axes))}, mode="markers", name="selected",
                marker={"color": "rgba(0,0,0,0)", "size": size + 10, "line": {"color": "#ff7f0e", "width": 3}},
                hoverinfo="skip", customdata=[]),
    ])
    titles = [_axis_title(a, d) for a, d in zip(info.axes, info.directions)]
    if three:
        fig.update_layout(scene={"xaxis_title": titles[0], "yaxis_title": titles[1], "zaxis_title": titles[2]})
    else:
        fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1], clickmode="event")
    fig.update_layout(title=info.title, template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.2}, uirevision="front")
    return fig


class CompareSeries(NamedTuple):
    """One run's front on the compared pair, sorted by the first axis."""

    run_id: str
    label: str
    x: np.ndarray
    y: np.ndarray
    trials: np.ndarray
    evaluated: int


class CompareInfo(NamedTuple):
    """Fronts of several runs on one metric pair (each front computed on that pair)."""

    axes: tuple[str, str]
    directions: tuple[str, str]
    series: list[CompareSeries]


def _compare_info(views: Sequence[RunView], axes: Sequence[str]) -> CompareInfo:
    """Each run's feasible front on ``axes`` (directions from the first run's objectives)."""
    x_name, y_name = axes
    objectives = views[0].objectives if views else ()
    dirs = (direction_of(x_name, objectives), direction_of(y_name, objectives))
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in dirs])
    series = []
    for v in views:
        done = v.completed()
        if x_name not in done or y_name not in done:
            continue
        if "feasible" in done:
            done = done[done["feasible"].astype(bool)]
        pts = done[[x_name, y_name]].to_numpy(dtype=float)
        mask = pareto_mask(pts * signs) if len(pts) else np.zeros(0, bool)
        front = done[mask].sort_values(x_name, kind="stable")
        strategy, device = v.config.get("strategy", "?"), v.config.get("device", "?")
        series.append(CompareSeries(v.run_id, f"{v.run_id} ({strategy}, {device})",
                                    front[x_name].to_numpy(dtype=float), front[y_name].to_numpy(dtype=float),
                                    front["trial"].to_numpy(dtype=int) if "trial" in front else np.arange(len(front)),
                                    len(v.completed())))
    return CompareInfo((x_name, y_name), dirs, series)


def compare_figure(info: CompareInfo) -> go.Figure:
    """One staircase per run (the boundary of the region its front dominates)."""
    shape = "hv" if info.directions[0] == "minimize" else "vh"
    fig = go.Figure([go.Scatter(x=s.x, y=s.y, mode="lines+markers", line_shape=shape, name=s.label,
                                customdata=s.trials,
                                hovertemplate=f"{s.run_id}<br>trial %{{customdata}}<br>"
                                              f"{info.axes[0]}=%{{x:.4g}} {info.axes[1]}=%{{y:.4g}}<extra></extra>")
                     for s in info.series])
    fig.update_layout(title="Pareto fronts compared" if info.series else "Select runs to compare",
                      xaxis_title=_axis_title(info.axes[0], info.directions[0]),
                      yaxis_title=_axis_title(info.axes[1], info.directions[1]),
                      template="plotly_white", legend={"orientation": "h", "y": -0.2})
    return fig
