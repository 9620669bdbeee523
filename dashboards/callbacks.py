"""Callbacks of the dashboard: every one reads run views from the shared :class:`RunCache`.

A run id that reaches a callback (from the URL or a store) is turned into a folder only through
:func:`dashboards.data.safe_run_path`; anything else is ignored. The run page refreshes by
polling: ``run-sig`` changes only when a watched file of the run changed, and every figure
hangs off it, so the Pareto front is computed once per change, not per point or per callback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, Patch, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from dashboards.archview import _arch_diff_info, _arch_graph_info, arch_figure
from dashboards.planview import _plan_info, plan_figure
from dashboards.data import RunCache, RunView, list_runs, safe_run_path
from dashboards.exporting import export_point
from dashboards.front import SELECTED_TRACE, _compare_info, _front_info, compare_figure, front_figure
from dashboards.history import _hv_history_info, _prediction_info, hv_figure, prediction_figure
from dashboards.tables import (_run_meta_info, _runs_table_info, _trials_page_info, arch_values, trials_frame)

__all__ = ["register_callbacks", "trial_row"]

# runs-table column -> header (spent and budget are shown together as "spent / budget")
_RUN_COLUMNS = {"run": "run", "status": "status", "strategy": "strategy", "space": "space", "task": "task",
                "device": "device", "objectives": "objectives", "evaluations": "evaluations / budget",
                "seconds": "search s / budget", "front_size": "front size", "hypervolume": "hypervolume",
                "error": "error"}


def trial_row(view: RunView, trial: Any) -> dict[str, Any] | None:
    """The trials row of trial number ``trial`` (``None`` when there is none)."""
    if isinstance(trial, bool) or not isinstance(trial, int) or "trial" not in view.trials:
        return None
    index = view.memoized("trial_index", lambda: {int(t): i for i, t in enumerate(view.trials["trial"])})
    i = index.get(trial)
    return None if i is None else view.trials.iloc[i].to_dict()


def _meta_table(view: RunView) -> html.Table:
    info = _run_meta_info(view)
    return html.Table([html.Tr([html.Th(k, style={"textAlign": "left", "paddingRight": "12px"}), html.Td(v)])
                       for k, v in info.items], id="run-meta-table")


def register_callbacks(app: Dash, runs_dir: Path, cache: RunCache) -> None:
    """Wires every callback of the dashboard onto ``app``."""

    def view_of(run_id: Any) -> RunView:
        path = safe_run_path(runs_dir, run_id)
        if path is None:
            raise PreventUpdate
        return cache.get(path)

    @app.callback(Output("runs-table", "data"), Output("runs-table", "columns"), Output("runs-summary", "children"),
                  Input("poll", "n_intervals"), Input("url", "pathname"))
    def runs_table(_n: int, _path: str) -> tuple[Any, ...]:
        info = _runs_table_info([cache.get(p) for p in list_runs(runs_dir)])
        rows = []
        for r in info.rows:
            row = r._asdict()
            row["run"] = f"[{r.run}](/run/{r.run})"
            row["evaluations"] = f"{r.evaluations}" + (f" / {r.budget_evaluations}" if r.budget_evaluations else "")
            row["seconds"] = f"{r.seconds:.0f}" + (f" / {r.budget_seconds:.0f}" if r.budget_seconds else "")
            row["hypervolume"] = round(r.hypervolume, 4)
            rows.append(row)
        names = [n for n in _RUN_COLUMNS if n != "error" or any(r.error for r in info.rows)]
        cols = [{"name": _RUN_COLUMNS[n], "id": n, **({"presentation": "markdown"} if n == "run" else {})}
                for n in names]
        running = sum(r.status == "running" for r in info.rows)
        return rows, cols, f"{len(rows)} runs in {runs_dir} ({running} running)"

    @app.callback(Output("run-sig", "data"), Input("poll", "n_intervals"), Input("run-id", "data"),
                  State("run-sig", "data"))
    def refresh(_n: int, run_id: str, previous: Any) -> Any:
        sig = repr(view_of(run_id).signature)
        if sig == previous:
            raise PreventUpdate
        return sig

    @app.callback(Output("run-meta", "children"), Input("run-sig", "data"), State("run-id", "data"))
    def meta(_sig: Any, run_id: str) -> Any:
        return _meta_table(view_of(run_id))

    @app.callback(Output("front-graph", "figure"), Input("run-sig", "data"), Input("axis-x", "value"),
                  Input("axis-y", "value"), Input("axis-z", "value"), State("run-id", "data"), State("sel-a", "data"))
    def front(_sig: Any, x: str, y: str, z: str | None, run_id: str, selected: Any) -> Any:
        view = view_of(run_id)
        axes = [a for a in (x, y, z) if a]
        if len(axes) < 2:
            raise PreventUpdate
        fig = view.memoized(f"front:{axes}", lambda: front_figure(_front_info(view, axes)).to_plotly_json())
        row = trial_row(view, selected)
        if row is None:
            return fig
        marked = dict(fig["data"][SELECTED_TRACE]) | {k: [row.get(a)] for k, a in zip("xyz", axes)}
        data = list(fig["data"])
        data[SELECTED_TRACE] = marked | {"customdata": [selected]}
        return fig | {"data": data}

    @app.callback(Output("hv-graph", "figure"), Output("pred-graph", "figure"), Input("run-sig", "data"),
                  State("run-id", "data"))
    def history(_sig: Any, run_id: str) -> Any:
        view = view_of(run_id)
        hv = view.memoized("hv_fig", lambda: hv_figure(_hv_history_info(view)))
        return hv, prediction_figure(_prediction_info(view))

    @app.callback(Output("trials-table", "data"), Output("trials-table", "columns"),
                  Output("trials-table", "page_count"), Output("trials-summary", "children"),
                  Input("run-sig", "data"), Input("trials-table", "page_current"), Input("trials-table", "page_size"),
                  Input("trials-table", "sort_by"), Input("trials-table", "filter_query"), State("run-id", "data"))
    def trials(_sig: Any, page: int, size: int, sort_by: Any, query: str, run_id: str) -> Any:
        page_info = _trials_page_info(trials_frame(view_of(run_id)), page or 0, size or 20, sort_by or [], query or "")
        cols = [{"name": c, "id": c} for c in page_info.columns]
        return (page_info.rows, cols, page_info.page_count,
                f"{page_info.matched} of {page_info.total} trials match (sort and filter in the column headers)")

    _register_selection(app, view_of)
    _register_compare(app, runs_dir, cache)

    @app.callback(Output("plan-graph", "figure"), Output("plan-facts", "children"), Input("run-sig", "data"),
                  State("run-id", "data"))
    def plan(_sig: Any, run_id: str) -> Any:
        view = view_of(run_id)
        if not view.sharing_plan:
            raise PreventUpdate
        info = _plan_info(view.sharing_plan)
        facts = html.Table([html.Tr([html.Th(k), html.Td(v)]) for k, v in info.facts], id="plan-facts-table") \
            if info.facts else html.Div(info.error, id="plan-error")
        return plan_figure(info), facts

    @app.callback(Output("export-status", "children"), Input("export-button", "n_clicks"),
                  State("sel-a", "data"), State("run-id", "data"), prevent_initial_call=True)
    def export(n_clicks: int, trial: Any, run_id: str) -> str:
        path = safe_run_path(runs_dir, run_id)
        if not n_clicks or path is None or trial is None:
            raise PreventUpdate
        try:
            folder = export_point(path, trial)
        except Exception as e:  # noqa: BLE001 - the button shows why; the server keeps serving
            return f"export failed: {type(e).__name__}: {e}"
        return f"exported trial {trial} to {folder}"


def _register_selection(app: Dash, view_of: Any) -> None:
    @app.callback(Output("sel-a", "data"), Output("diff-with", "value"), Input("front-graph", "clickData"),
                  Input("trials-table", "active_cell"), State("trials-table", "data"), State("sel-a", "data"),
                  prevent_initial_call=True)
    def select(click: Any, cell: Any, rows: Any, previous: Any) -> Any:
        trial = None
        if ctx.triggered_id == "front-graph" and click and click.get("points"):
            trial = click["points"][0].get("customdata")
        elif ctx.triggered_id == "trials-table" and cell and rows and cell.get("row", -1) < len(rows):
            trial = rows[cell["row"]].get("trial")
        if isinstance(trial, list):
            trial = trial[0] if trial else None
        if trial is None:
            raise PreventUpdate
        trial = int(trial)
        return trial, (previous if previous is not None and previous != trial else no_update)

    @app.callback(Output("front-graph", "figure", allow_duplicate=True), Input("sel-a", "data"),
                  State("axis-x", "value"), State("axis-y", "value"), State("axis-z", "value"),
                  State("run-id", "data"), prevent_initial_call=True)
    def mark(trial: Any, x: str, y: str, z: str | None, run_id: str) -> Any:
        row = trial_row(view_of(run_id), trial)
        if row is None:
            raise PreventUpdate
        patch = Patch()
        for key, a in zip("xyz", [a for a in (x, y, z) if a]):
            patch["data"][SELECTED_TRACE][key] = [row.get(a)]
        patch["data"][SELECTED_TRACE]["customdata"] = [trial]
        return patch

    @app.callback(Output("arch-title", "children"), Output("arch-graph", "figure"), Output("arch-metrics", "children"),
                  Output("arch-diff", "children"), Output("diff-with", "options"), Output("export-button", "disabled"),
                  Input("sel-a", "data"), Input("diff-with", "value"), State("run-id", "data"),
                  prevent_initial_call=True)
    def architecture(trial: Any, other: Any, run_id: str) -> Any:
        view = view_of(run_id)
        row = trial_row(view, trial)
        if row is None:
            raise PreventUpdate
        values = arch_values(row.get("arch"))
        other_row = trial_row(view, other) if other is not None else None
        diff = _arch_diff_info(values, arch_values(other_row.get("arch")), name_a=f"trial {trial}",
                               name_b=f"trial {other}") if other_row is not None else None
        info = _arch_graph_info(values, f"trial {trial} · {row.get('arch_id', '')}", view.sharing_plan,
                                diff.changed if diff else ())
        shown = [m for m in view.metrics() if m in row]
        metrics = html.Table([html.Tr([html.Th(m), html.Td(f"{float(row[m]):.6g}")]) for m in shown],
                             id="arch-metrics-table")
        options = sorted({int(t) for t in view.front["trial"]} | {trial} | ({other} if other is not None else set())) \
            if "trial" in view.front else [trial]
        title = html.Div(f"Selected: trial {trial} (arch {row.get('arch_id', '')})", id="arch-selected")
        return title, arch_figure(info), metrics, _diff_table(diff), options, False


def _diff_table(diff: Any) -> Any:
    if diff is None:
        return html.Div("Choose a second trial (or click another point) to see which choices differ.")
    rows = [html.Tr([html.Td(r.label), html.Td(str(r.a)), html.Td(str(r.b))],
                    style={"color": "#d62728", "fontWeight": "bold"} if r.differs else {}) for r in diff.rows]
    head = html.Tr([html.Th("choice"), html.Th(diff.name_a), html.Th(diff.name_b)])
    return html.Div([html.Div(f"{len(diff.changed)} of {len(diff.rows)} choices differ"),
                     html.Table([head, *rows], id="arch-diff-table")])


def _register_compare(app: Dash, runs_dir: Path, cache: RunCache) -> None:
    @app.callback(Output("compare-graph", "figure"), Input("compare-runs", "value"), Input("cmp-x", "value"),
                  Input("cmp-y", "value"))
    def compare(run_ids: Any, x: str, y: str) -> Any:
        if not x or not y:
            raise PreventUpdate
        paths = [safe_run_path(runs_dir, r) for r in (run_ids or [])]
        views = [cache.get(p) for p in paths if p is not None]
        return compare_figure(_compare_info(views, (x, y)))
