"""The ranking-fidelity scatter: stand-alone accuracy against supernet accuracy, one trace per seed.

Two steps (DESIGN §7.9): :func:`_scatter_info` turns the measurements into a typed
:class:`ScatterInfo` (pure, tested), :func:`scatter_figure` only draws it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["ScatterTrace", "ScatterInfo", "_scatter_info", "scatter_figure", "write_scatter"]


class ScatterTrace(NamedTuple):
    """One supernet seed: its points and its Kendall tau."""

    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    text: tuple[str, ...]
    tau: float


class ScatterInfo(NamedTuple):
    """Everything the figure shows."""

    title: str
    x_label: str
    y_label: str
    traces: tuple[ScatterTrace, ...]


def _scatter_info(title: str, standalone: Sequence[float], supernet: Mapping[str, Sequence[float]],
                  labels: Sequence[str], taus: Mapping[str, float]) -> ScatterInfo:
    """Builds the scatter's data: x = mean stand-alone accuracy, y = supernet accuracy per seed.

    Raises:
        ValueError: if a seed's accuracies or the labels do not match the stand-alone count.
    """
    n = len(standalone)
    if len(labels) != n:
        raise ValueError(f"`labels` must have one entry per architecture ({n}), got {len(labels)}")
    traces = []
    for name, ys in supernet.items():
        if len(ys) != n:
            raise ValueError(f"`supernet[{name!r}]` must have {n} accuracies, got {len(ys)}")
        traces.append(ScatterTrace(name, tuple(map(float, standalone)), tuple(map(float, ys)), tuple(labels),
                                   float(taus.get(name, float("nan")))))
    return ScatterInfo(title, "stand-alone accuracy (%, mean over seeds)", "supernet accuracy (%, BN recalibrated)",
                       tuple(traces))


def scatter_figure(info: ScatterInfo) -> go.Figure:
    """Draws :class:`ScatterInfo` as a plotly figure."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for t in info.traces:
        fig.add_trace(go.Scatter(x=t.x, y=t.y, text=t.text, mode="markers", name=f"{t.name} (tau {t.tau:.3f})",
                                 hovertemplate="%{text}<br>stand-alone %{x:.2f}<br>supernet %{y:.2f}<extra></extra>"))
    fig.update_layout(title=info.title, xaxis_title=info.x_label, yaxis_title=info.y_label, template="plotly_white")
    return fig


def write_scatter(info: ScatterInfo, path: str | Path) -> Path:
    """Writes the figure as an HTML page (plotly.js from its CDN, to keep the file small)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    scatter_figure(info).write_html(out, include_plotlyjs="cdn", full_html=True)
    return out
