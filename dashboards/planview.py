"""The run's sharing plan drawn: members as rows, data flow left to right, groups coloured.

A run stores its :class:`~nas.sharing.plan.SharingPlan` as ``sharing_plan.json``
(``SharingPlan.to_dict``). :func:`_plan_info` lays it out (pure, tested): one row per member
(``shared`` first: the layers every member runs), one column per step of the data flow
(topological generations), so an ensemble's shared trunk sits left of the members' branches.
Groups used by several layer instances (shared parameters) get their own colour and are joined
by dashed edges; layers with a group of their own are drawn neutral. Each weight-source kind
(slice, superpose, bank, tied, routed, static) is its own legend entry and marker symbol. The
plan's facts (kind, the mechanism's meta such as budget, K or split, parameters stored against
parameters if nothing were shared) head the figure and fill a table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import networkx as nx
import plotly.graph_objects as go

from nas.errors import NASError
from nas.sharing.plan import SOURCES, SharingPlan

__all__ = ["PlanNode", "PlanEdge", "PlanInfo", "load_plan", "plan_graph", "_plan_groups", "_plan_info", "plan_figure"]

_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e")
_SOLO = "#c7d3e0"  # a layer whose group is its own: nothing shared
_SYMBOLS = {"slice": "square", "superpose": "diamond", "bank": "hexagon", "tied": "triangle-up",
            "routed": "star", "static": "circle"}
_EXTRAS = 4  # extra attributes shown in a node's hover text


class PlanNode(NamedTuple):
    """One layer instance ``(member, slot)`` placed on the drawing."""

    id: str
    member: str
    slot: str
    group: str
    source: str
    params: int
    x: float
    y: float
    shared: bool
    extras: tuple[tuple[str, Any], ...]


class PlanEdge(NamedTuple):
    """``flow`` (data flow) or ``shared`` (two instances of one parameter group)."""

    src: str
    dst: str
    kind: str


class PlanInfo(NamedTuple):
    """A sharing plan laid out, with its facts (``error`` says why there is nothing to draw)."""

    kind: str
    members: list[str]
    nodes: list[PlanNode]
    edges: list[PlanEdge]
    groups: dict[str, list[str]]
    shared_groups: dict[str, list[str]]
    facts: list[tuple[str, str]]
    error: str = ""


def load_plan(data: Mapping[str, Any] | None) -> SharingPlan | None:
    """The plan of ``sharing_plan.json`` data; ``None`` when there is none.

    Raises:
        NASError: naming ``sharing_plan`` when the data is no version-1 plan.
    """
    if not data:
        return None
    return SharingPlan.from_dict(dict(data))


def plan_graph(data: Mapping[str, Any]) -> nx.DiGraph:
    """The plan's graph: nodes ``(member, slot)`` with ``group``, ``source`` and extras."""
    plan = load_plan(data)
    return plan.graph if plan is not None else nx.DiGraph()


def _plan_groups(data: Mapping[str, Any] | None) -> dict[str, str]:
    """Slot -> parameter group (the first member's), for drawing an architecture's blocks;
    empty when the run has no readable plan."""
    try:
        plan = load_plan(data)
    except NASError:
        return {}
    out: dict[str, str] = {}
    for (_, slot), attrs in plan.graph.nodes(data=True) if plan is not None else ():
        out.setdefault(str(slot), str(attrs["group"]))
    return out


def _node_id(node: tuple[str, str]) -> str:
    return f"{node[0]}/{node[1]}"


def _member_order(plan: SharingPlan) -> list[str]:
    members = plan.members
    return (["shared"] if "shared" in members else []) + [m for m in members if m != "shared"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def _facts(plan: SharingPlan, shared: Mapping[str, list[Any]]) -> list[tuple[str, str]]:
    stored = plan.stored_params()
    unshared = sum(int(a.get("params", 0)) for _, a in plan.graph.nodes(data=True))
    facts = [("kind", plan.kind), ("members", str(len(plan.members))), ("layers", str(plan.graph.number_of_nodes())),
             ("groups", f"{len(plan.groups())} ({len(shared)} shared)"), ("stored params", f"{stored:,}")]
    if unshared:
        facts.append(("params if unshared", f"{unshared:,} (stored: {100.0 * stored / unshared:.1f}%)"))
    facts += [(str(k), _fmt(v)) for k, v in sorted(plan.meta.items())]
    return facts


def _plan_info(data: Mapping[str, Any] | None) -> PlanInfo:
    """Lays out a plan (see the module docstring); an unreadable plan gives an empty info with ``error``."""
    try:
        plan = load_plan(data)
    except NASError as e:
        return PlanInfo("?", [], [], [], {}, {}, [], f"unreadable sharing_plan.json: {e}")
    if plan is None or plan.graph.number_of_nodes() == 0:
        return PlanInfo(plan.kind if plan else "none", [], [], [], {}, {}, [], "the run has no sharing plan")
    members = _member_order(plan)
    column = {n: i for i, gen in enumerate(nx.topological_generations(plan.graph)) for n in gen}
    stacked: dict[tuple[str, int], int] = {}  # parallel layers of one member in one column
    groups = {g: [_node_id(n) for n in ns] for g, ns in plan.groups().items()}
    shared = {g: ids for g, ids in groups.items() if len(ids) > 1}
    nodes = []
    for node, a in plan.graph.nodes(data=True):
        member, slot = node
        k = stacked[(member, column[node])] = stacked.get((member, column[node]), -1) + 1
        extras = tuple((key, v) for key, v in a.items() if key not in ("group", "source", "params"))[:_EXTRAS]
        nodes.append(PlanNode(_node_id(node), member, slot, str(a["group"]), str(a["source"]), int(a.get("params", 0)),
                              float(column[node]), -float(members.index(member)) - 0.3 * k, a["group"] in shared,
                              extras))
    edges = [PlanEdge(_node_id(u), _node_id(v), "flow") for u, v in plan.graph.edges]
    for ids in shared.values():
        edges += [PlanEdge(x, y, "shared") for x, y in zip(ids, ids[1:])]
    return PlanInfo(plan.kind, members, nodes, edges, groups, shared, _facts(plan, shared))


def _hover(n: PlanNode, info: PlanInfo) -> str:
    users = len(info.groups.get(n.group, []))
    lines = [f"<b>{n.member} / {n.slot}</b>", f"group {n.group}" + (f" (shared by {users} layers)" if n.shared else ""),
             f"source {n.source}", f"params {n.params:,}"]
    return "<br>".join(lines + [f"{k} {_fmt(v)}" for k, v in n.extras])


def plan_figure(info: PlanInfo) -> go.Figure:
    """The laid-out plan: flow arrows, dashed shared-group edges, one legend entry per source kind."""
    fig = go.Figure()
    pos = {n.id: (n.x, n.y) for n in info.nodes}
    for kind, name, style in (("flow", "data flow", {"color": "#888", "width": 1.5}),
                              ("shared", "shared group", {"color": "#d62728", "width": 2, "dash": "dash"})):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for e in (e for e in info.edges if e.kind == kind):
            xs += [pos[e.src][0], pos[e.dst][0], None]
            ys += [pos[e.src][1], pos[e.dst][1], None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=style, hoverinfo="skip", name=name))
    colors = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(info.shared_groups)}
    for source in [s for s in SOURCES if any(n.source == s for n in info.nodes)]:
        ns = [n for n in info.nodes if n.source == source]
        fig.add_trace(go.Scatter(
            x=[n.x for n in ns], y=[n.y for n in ns], mode="markers", name=f"source: {source}",
            customdata=[n.id for n in ns], hovertext=[_hover(n, info) for n in ns], hoverinfo="text",
            marker={"size": 18, "symbol": _SYMBOLS.get(source, "circle"),
                    "color": [colors.get(n.group, _SOLO) for n in ns], "line": {"color": "#1f3b5a", "width": 1}}))
    title = " · ".join(f"{k} {v}" if k != "kind" else f"Sharing plan: {v}" for k, v in info.facts[:5]) or info.error
    fig.update_layout(
        title={"text": title, "font": {"size": 14}}, template="plotly_white", showlegend=bool(info.nodes),
        xaxis={"visible": False},
        yaxis={"tickvals": [-float(i) for i in range(len(info.members))], "ticktext": info.members,
               "showgrid": False, "zeroline": False, "range": [-len(info.members) + 0.4, 0.6]},
        margin={"l": 80, "r": 10, "t": 60, "b": 10}, height=220 + 70 * max(1, len(info.members)))
    return fig
