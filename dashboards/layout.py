"""Page layouts of the dashboard: runs list, one run, compare runs, not found.

Pure component trees (no callbacks): :mod:`dashboards.callbacks` fills the figures and tables.
Component ids are module constants so that callbacks, tests and the browser test agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from dash import dash_table, dcc, html

from dashboards.data import RunView

__all__ = ["shell", "runs_page", "run_page", "compare_page", "not_found_page", "axis_defaults", "PAGE_SIZE"]

PAGE_SIZE = 20
_CARD = {"border": "1px solid #ddd", "borderRadius": "6px", "padding": "10px", "margin": "8px 0"}
_TABLE_STYLE = {"overflowX": "auto"}
_CELL = {"fontFamily": "monospace", "fontSize": "12px", "padding": "3px 6px", "textAlign": "left"}


def shell(poll_ms: int) -> html.Div:
    """The frame of every page: location, navigation, the page body, the polling interval."""
    nav = html.Div([dcc.Link("Runs", href="/"), " · ", dcc.Link("Compare runs", href="/compare")],
                   style={"padding": "6px 0", "borderBottom": "1px solid #ccc"})
    return html.Div([
        dcc.Location(id="url"),
        html.H2("ShareNAS", style={"margin": "4px 0"}),
        nav,
        html.Div(id="page"),
        dcc.Interval(id="poll", interval=poll_ms, n_intervals=0),
    ], style={"fontFamily": "sans-serif", "margin": "0 16px"})


def runs_page() -> html.Div:
    """Every run with status, settings, budget spent, front size and hypervolume."""
    table = dash_table.DataTable(
        id="runs-table", columns=[], data=[], markdown_options={"link_target": "_self"}, sort_action="native",
        filter_action="native", style_table=_TABLE_STYLE, style_cell=_CELL,
        style_data_conditional=[
            {"if": {"filter_query": '{status} = "running"'}, "backgroundColor": "#e8f4ff"},
            {"if": {"filter_query": '{status} = "failed"'}, "backgroundColor": "#fde8e8"},
        ])
    return html.Div([html.H3("Runs"), html.Div(id="runs-summary"), table])


def axis_defaults(view: RunView) -> tuple[str | None, str | None, str | None]:
    """Default axes: the objectives (a third one gives a 3-D front), else the first metrics."""
    names = [o.metric for o in view.objectives if o.metric in view.trials.columns] or view.metrics()
    names += [m for m in view.metrics() if m not in names]
    x = names[0] if names else None
    y = names[1] if len(names) > 1 else None
    z = names[2] if len(view.objectives) >= 3 and len(names) > 2 else None
    return x, y, z


def _dropdown(id_: str, options: Sequence[str], value: str | None, clearable: bool = False) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, options=list(options), value=value, clearable=clearable,
                        style={"width": "200px", "display": "inline-block", "marginRight": "8px"})


def run_page(view: RunView) -> html.Div:
    """One run: metadata, front, hypervolume, predictions, trials, architecture view, export."""
    metrics = view.metrics()
    x, y, z = axis_defaults(view)
    axes = html.Div([html.Span("x "), _dropdown("axis-x", metrics, x), html.Span("y "), _dropdown("axis-y", metrics, y),
                     html.Span("z (3-D) "), _dropdown("axis-z", metrics, z, clearable=True)])
    trials = dash_table.DataTable(
        id="trials-table", columns=[], data=[], page_current=0, page_size=PAGE_SIZE, page_action="custom",
        sort_action="custom", sort_mode="multi", sort_by=[], filter_action="custom", filter_query="",
        style_table=_TABLE_STYLE, style_cell=_CELL,
        style_data_conditional=[{"if": {"filter_query": '{on_front} = "yes"'}, "fontWeight": "bold"},
                                {"if": {"filter_query": '{feasible} = "no"'}, "color": "#b00"}])
    arch = html.Div([
        html.H4("Architecture"),
        html.Div("Click a point of the front (or a row of the table) to see its architecture.", id="arch-hint"),
        html.Div(id="arch-title"),
        dcc.Graph(id="arch-graph", config={"displaylogo": False}),
        html.Div(id="arch-metrics"),
        html.Div([html.Span("diff against trial "), _dropdown("diff-with", [], None, clearable=True)]),
        html.Div(id="arch-diff"),
        html.Button("Export this architecture", id="export-button", n_clicks=0, disabled=True),
        html.Pre(id="export-status", style={"whiteSpace": "pre-wrap"}),
    ], style=_CARD)
    plan = (html.Div([html.H4("Sharing plan"), dcc.Graph(id="plan-graph", config={"displaylogo": False}),
                      html.Div(id="plan-facts")], style=_CARD)
            if view.sharing_plan else html.Div())
    return html.Div([
        dcc.Store(id="run-id", data=view.run_id),
        dcc.Store(id="run-sig", data=None),
        dcc.Store(id="sel-a", data=None),
        html.H3(f"Run {view.run_id}"),
        html.Div(id="run-meta", style=_CARD),
        html.Div([axes, dcc.Graph(id="front-graph", config={"displaylogo": False}, style={"height": "520px"})],
                 style=_CARD),
        arch,
        plan,
        html.Div([dcc.Graph(id="hv-graph")], style=_CARD),
        html.Div([dcc.Graph(id="pred-graph")], style=_CARD),
        html.Div([html.H4("Trials"), html.Div(id="trials-summary"), trials], style=_CARD),
    ])


def compare_page(run_ids: Sequence[str], selected: Sequence[str], metrics: Sequence[str]) -> html.Div:
    """Fronts of several runs overlaid on one metric pair."""
    x = metrics[0] if metrics else None
    y = metrics[1] if len(metrics) > 1 else None
    return html.Div([
        html.H3("Compare runs"),
        dcc.Dropdown(id="compare-runs", options=list(run_ids), value=list(selected), multi=True),
        html.Div([html.Span("x "), _dropdown("cmp-x", metrics, x), html.Span("y "), _dropdown("cmp-y", metrics, y)],
                 style={"margin": "8px 0"}),
        dcc.Graph(id="compare-graph", style={"height": "520px"}),
    ])


def not_found_page(what: str) -> html.Div:
    """Shown for a page path that names no run (the server answers such URLs with 404 first)."""
    return html.Div([html.H3("Not found"), html.P(what)], id="not-found")
