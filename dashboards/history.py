"""Hypervolume history (against evaluations and time) and predicted-vs-measured plots.

Convention 9: ``_hv_history_info`` and ``_prediction_info`` are pure (tested); the figure
functions only draw them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.data import RunView
from dashboards.front import GL_POINTS
from nas.search.pareto import hypervolume, to_losses

__all__ = ["HistoryInfo", "PredictionPanel", "PredictionInfo", "_hv_history_info", "hv_figure",
           "_prediction_info", "prediction_figure", "prediction_columns"]


class HistoryInfo(NamedTuple):
    """Hypervolume after each completed evaluation, in the order they finished.

    Attributes:
        evaluations: 1..n.
        seconds: Seconds since the first evaluation started, at each completion.
        hypervolume: Hypervolume of the feasible front so far (the run's final reference point).
        reference: The reference point (losses).
    """

    evaluations: np.ndarray
    seconds: np.ndarray
    hypervolume: np.ndarray
    reference: tuple[float, ...]


def _hv_history_info(view: RunView) -> HistoryInfo:
    """Hypervolume history, updated incrementally: the front changes rarely, so HV is recomputed
    only when a new point enters it (a vectorised dominance test per point, no O(n^2) work)."""
    done = view.completed()
    names = [o.metric for o in view.objectives]
    if len(done) < 2 or not view.reference or any(n not in done for n in names):
        z = np.zeros(0)
        return HistoryInfo(z.astype(int), z, z, view.reference)
    order = "finished_at" if "finished_at" in done else "trial"
    done = done.sort_values(order, kind="stable")
    losses = to_losses(done[names].to_numpy(dtype=float), view.objectives)
    feas = done["feasible"].to_numpy(dtype=bool) if "feasible" in done else np.ones(len(done), bool)
    ref = np.asarray(view.reference, dtype=float)
    front = np.empty((0, losses.shape[1]))
    hv, out = 0.0, np.empty(len(done))
    for i, p in enumerate(losses):
        if feas[i] and np.all(p < ref):
            dominated = np.any(np.all(front <= p, axis=1) & np.any(front < p, axis=1)) if len(front) else False
            if not dominated:
                keep = ~(np.all(p <= front, axis=1) & np.any(p < front, axis=1))
                front = np.vstack([front[keep], p])
                hv = hypervolume(front, ref)
        out[i] = hv
    if "finished_at" in done:
        t = done["finished_at"].to_numpy(dtype=float)
        start = t - (done["wall_s"].to_numpy(dtype=float) if "wall_s" in done else 0.0)
        seconds = t - np.nanmin(start)
    else:
        seconds = np.arange(1, len(done) + 1, dtype=float)
    return HistoryInfo(np.arange(1, len(done) + 1), seconds, out, view.reference)


def _steps(hv: np.ndarray) -> np.ndarray:
    """Indices where the hypervolume changes, plus the first and the last (enough for a step line)."""
    if len(hv) == 0:
        return np.zeros(0, dtype=int)
    change = np.flatnonzero(np.diff(hv) != 0) + 1
    return np.unique(np.concatenate([[0], change, [len(hv) - 1]]))


def hv_figure(info: HistoryInfo) -> go.Figure:
    """Two panels: hypervolume against evaluations and against seconds (drawn as steps)."""
    keep = _steps(info.hypervolume)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("against evaluations", "against time"))
    fig.add_trace(go.Scatter(x=info.evaluations[keep], y=info.hypervolume[keep], mode="lines", line_shape="hv",
                             name="HV / evaluations"), row=1, col=1)
    fig.add_trace(go.Scatter(x=info.seconds[keep], y=info.hypervolume[keep], mode="lines", line_shape="hv",
                             name="HV / seconds"), row=1, col=2)
    fig.update_xaxes(title_text="evaluations", row=1, col=1)
    fig.update_xaxes(title_text="seconds", row=1, col=2)
    fig.update_yaxes(title_text="hypervolume", row=1, col=1)
    fig.update_layout(title="Hypervolume history", template="plotly_white", showlegend=False,
                      margin={"l": 60, "r": 20, "t": 70, "b": 50})
    return fig


def prediction_columns(df: pd.DataFrame, metric: str) -> tuple[str | None, str | None]:
    """Columns holding a metric's prediction and its uncertainty, if any.

    Accepted names: ``predicted_<m>``, ``pred_<m>``, ``<m>_pred``, ``<m>_predicted`` (and the
    same with ``_std`` appended for the standard deviation).
    """
    for name in (f"predicted_{metric}", f"pred_{metric}", f"{metric}_pred", f"{metric}_predicted"):
        if name in df.columns:
            std = f"{name}_std"
            return name, (std if std in df.columns else None)
    return None, None


class PredictionPanel(NamedTuple):
    """Measured against predicted values of one metric."""

    metric: str
    measured: np.ndarray
    predicted: np.ndarray
    std: np.ndarray | None
    trials: np.ndarray
    kendall_tau: float | None
    mape: float | None


class PredictionInfo(NamedTuple):
    """One panel per metric with predictions (empty when no predictor was used)."""

    panels: list[PredictionPanel]


def _kendall(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2:
        return None
    try:
        tau = pd.Series(a).corr(pd.Series(b), method="kendall")
    except ImportError:  # pandas needs scipy for Kendall's tau
        return None
    return None if pd.isna(tau) else float(tau)


def _prediction_info(view: RunView, metrics: tuple[str, ...] | None = None) -> PredictionInfo:
    """Pairs of measured and predicted values for rows that have both (``metrics``: the run's
    objectives, then accuracy and latency)."""
    if metrics is None:
        metrics = tuple(dict.fromkeys([*(o.metric for o in view.objectives), "accuracy", "latency_ms"]))
    done = view.completed()
    panels = []
    for m in metrics:
        pred, std = prediction_columns(done, m)
        if pred is None or m not in done:
            continue
        rows = done[done[m].notna() & done[pred].notna()]
        if rows.empty:
            continue
        measured, predicted = rows[m].to_numpy(dtype=float), rows[pred].to_numpy(dtype=float)
        nonzero = measured != 0
        mape = float(np.mean(np.abs((predicted[nonzero] - measured[nonzero]) / measured[nonzero])) * 100) \
            if nonzero.any() else None
        panels.append(PredictionPanel(m, measured, predicted, rows[std].to_numpy(dtype=float) if std else None,
                                      rows["trial"].to_numpy(dtype=int), _kendall(measured, predicted), mape))
    return PredictionInfo(panels)


def prediction_figure(info: PredictionInfo) -> go.Figure:
    """Predicted against measured per metric, with the identity line."""
    if not info.panels:
        fig = go.Figure()
        fig.update_layout(title="No predictor was used in this run (no predicted_<metric> columns)",
                          template="plotly_white", height=120, xaxis_visible=False, yaxis_visible=False)
        return fig
    titles = [f"{p.metric}: tau {p.kendall_tau:.2f}" if p.kendall_tau is not None else p.metric for p in info.panels]
    titles = [t + (f", MAPE {p.mape:.1f}%" if p.mape is not None else "") for t, p in zip(titles, info.panels)]
    fig = make_subplots(rows=1, cols=len(info.panels), subplot_titles=titles)
    for i, p in enumerate(info.panels, start=1):
        err = {"type": "data", "array": p.std, "visible": True} if p.std is not None else None
        kind = go.Scattergl if len(p.measured) > GL_POINTS else go.Scatter
        fig.add_trace(kind(x=p.measured, y=p.predicted, mode="markers", error_y=err, customdata=p.trials,
                                 name=p.metric, hovertemplate="trial %{customdata}<br>measured %{x:.4g}"
                                                              "<br>predicted %{y:.4g}<extra></extra>"), row=1, col=i)
        lo, hi = float(min(p.measured.min(), p.predicted.min())), float(max(p.measured.max(), p.predicted.max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "grey"},
                                 hoverinfo="skip", showlegend=False), row=1, col=i)
        fig.update_xaxes(title_text=f"measured {p.metric}", row=1, col=i)
        fig.update_yaxes(title_text=f"predicted {p.metric}", row=1, col=i)
    fig.update_layout(title="Predicted against measured", template="plotly_white", showlegend=False)
    return fig
