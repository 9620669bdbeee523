"""``nas report RUN -o report.html``: one self-contained HTML page of a run.

The page inlines plotly.js once (no network access needed to open it) and holds the run's
metadata, its Pareto front, the hypervolume history, predicted-vs-measured plots when the run
has predictions, and the table of the front's architectures. Every text from the run folder is
HTML-escaped.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboards.data import RunView, load_view
from dashboards.front import _front_info, front_figure
from dashboards.history import _hv_history_info, _prediction_info, hv_figure, prediction_figure
from dashboards.layout import axis_defaults
from dashboards.tables import _run_meta_info, _top_archs_info

__all__ = ["build_report", "render_report", "write_report"]

_STYLE = """
body { font-family: sans-serif; margin: 16px 32px; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
td.mono { font-family: monospace; }
section { margin: 18px 0; }
"""


def _figure_div(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False})


def _table(columns: Sequence[str], rows: Sequence[dict[str, Any]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            text = f"{v:.6g}" if isinstance(v, float) else ("" if v is None else str(v))
            cells.append(f'<td class="mono">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><tr>{head}</tr>{"".join(body)}</table>'


def render_report(view: RunView, top_k: int = 20) -> str:
    """The report of one run as a complete HTML document (plotly.js inlined).

    Args:
        view: The run.
        top_k: How many front architectures the table lists.
    """
    title = f"ShareNAS report: {view.run_id}"
    meta = _run_meta_info(view)
    meta_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in meta.items)
    x, y, z = axis_defaults(view)
    sections = [f'<section><h2>Run</h2><table id="run-meta">{meta_rows}</table></section>']
    if x and y:
        axes = [a for a in (x, y, z) if a]
        sections.append("<section><h2>Pareto front</h2>" + _figure_div(front_figure(_front_info(view, axes)),
                                                                        "front") + "</section>")
    sections.append("<section><h2>Hypervolume history</h2>" + _figure_div(hv_figure(_hv_history_info(view)), "hv")
                    + "</section>")
    pred = _prediction_info(view)
    if pred.panels:
        sections.append("<section><h2>Predicted against measured</h2>"
                        + _figure_div(prediction_figure(pred), "predictions") + "</section>")
    top = _top_archs_info(view, top_k)
    sections.append(f"<section><h2>Top architectures (front, {len(top.rows)} shown)</h2>"
                    + _table(top.columns, top.rows, "top-archs") + "</section>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head>"
            f"<body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n")


def build_report(run_path: str | Path, top_k: int = 20) -> str:
    """Reads the run folder ``run_path`` and renders its report."""
    return render_report(load_view(Path(run_path).resolve()), top_k)


def write_report(run_path: str | Path, out: str | Path, top_k: int = 20) -> Path:
    """Writes the report of the run in ``run_path`` to ``out`` atomically; returns ``out``."""
    text = build_report(run_path, top_k)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".html.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, target)
    return target
