"""An architecture drawn as a graph (networkx layout, plotly drawing), and a diff of two.

Choice labels are grouped by their prefix before the first dot: ``s1.depth`` and ``s1.width``
are choices of stage ``s1``; ``s1.b2.kernel`` is a choice of block ``b2`` of stage ``s1``. Nodes
are blocks (a stage without blocks is one node), edges the data flow in label order. When the
run has a ``sharing_plan.json`` (a :class:`~nas.sharing.plan.SharingPlan`, whose layer
instances ``(member, slot)`` carry a parameter ``group``), blocks whose slots share a group are joined by
dashed "shared" edges; the plan itself is drawn by :mod:`dashboards.planview` (whose plan
functions are re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import networkx as nx
import plotly.graph_objects as go

from dashboards.planview import PlanInfo, _plan_groups, _plan_info, plan_figure, plan_graph

__all__ = ["ArchNode", "ArchEdge", "ArchGraphInfo", "DiffRow", "ArchDiffInfo", "_arch_graph_info",
           "arch_figure", "_arch_diff_info", "plan_graph", "_plan_info", "plan_figure", "PlanInfo"]

_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e")


class ArchNode(NamedTuple):
    """One drawn node: a block (or the input/output), its choices and position."""

    id: str
    stage: str
    choices: tuple[tuple[str, Any], ...]
    x: float
    y: float
    group: str | None
    highlight: bool


class ArchEdge(NamedTuple):
    """``flow`` (data flow) or ``shared`` (same parameter group) between two nodes."""

    src: str
    dst: str
    kind: str


class ArchGraphInfo(NamedTuple):
    """The drawn architecture."""

    title: str
    nodes: list[ArchNode]
    edges: list[ArchEdge]
    groups: dict[str, list[str]]


def _arch_graph_info(values: Mapping[str, Any], title: str = "", sharing_plan: Mapping[str, Any] | None = None,
                     highlight: Iterable[str] = ()) -> ArchGraphInfo:
    """Nodes, edges and positions of one architecture.

    Args:
        values: The architecture's active choices, in the space's label order.
        title: Figure title.
        sharing_plan: The run's ``sharing_plan.json`` data (``SharingPlan.to_dict``), if any.
        highlight: Labels to mark (e.g. the choices that differ from another architecture).
    """
    first_seen: list[tuple[str, str]] = []  # (node, stage) in label order
    own: dict[str, list[tuple[str, Any]]] = {}
    stage_choices: dict[str, list[tuple[str, Any]]] = {}
    hl_nodes: set[str] = set()
    hl_stages: set[str] = set()
    hl = set(highlight)
    for label, value in values.items():
        parts = label.split(".")
        stage = parts[0]
        if len(parts) == 2:  # a stage-level choice (depth, width): shown on every block of the stage
            stage_choices.setdefault(stage, []).append((parts[1], value))
            node, key = stage, None
            if label in hl:
                hl_stages.add(stage)
        else:
            node = label if len(parts) == 1 else f"{stage}.{parts[1]}"
            key = label if len(parts) == 1 else ".".join(parts[2:])
            if label in hl:
                hl_nodes.add(node)
        if node not in own:
            own[node] = []
            first_seen.append((node, stage))
        if key is not None:
            own[node].append((key, value))
    has_blocks = {s for n, s in first_seen if n != s}
    kept = [(n, s) for n, s in first_seen if n != s or s not in has_blocks or own[n]]
    order = [n for n, _ in kept]
    stage_of = dict(kept)
    marked = hl_nodes | {n for n, s in kept if s in hl_stages}
    groups_by_slot = _plan_groups(sharing_plan)
    chain = ["input", *order, "output"]
    g = nx.DiGraph()
    for i, n in enumerate(chain):  # one column per block along the data flow: labels never overlap
        g.add_node(n, layer=i)
    g.add_edges_from(zip(chain, chain[1:]))
    pos = nx.multipartite_layout(g, subset_key="layer", align="vertical", scale=1.0)
    nodes = []
    for n in chain:
        stage = stage_of.get(n, n)
        choices = tuple(own.get(n, [])) + tuple(stage_choices.get(stage, []) if n in stage_of else [])
        nodes.append(ArchNode(n, stage, choices, float(pos[n][0]), -float(pos[n][1]), groups_by_slot.get(n),
                              n in marked))
    edges = [ArchEdge(a, b, "flow") for a, b in zip(chain, chain[1:])]
    groups: dict[str, list[str]] = {}
    for node in nodes:
        if node.group is not None:
            groups.setdefault(node.group, []).append(node.id)
    for members in groups.values():
        edges += [ArchEdge(a, b, "shared") for a, b in zip(members, members[1:])]
    return ArchGraphInfo(title, nodes, edges, groups)


def _node_text(node: ArchNode) -> str:
    return "<br>".join([f"<b>{node.id}</b>", *(f"{k}={v}" for k, v in node.choices)])


def arch_figure(info: ArchGraphInfo) -> go.Figure:
    """Blocks as labelled markers, data flow as arrows, shared groups as dashed edges."""
    pos = {n.id: (n.x, n.y) for n in info.nodes}
    fig = go.Figure()
    for kind, style in (("flow", {"color": "#888", "width": 2}), ("shared", {"color": "#d62728", "dash": "dash",
                                                                            "width": 2})):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for e in info.edges:
            if e.kind == kind:
                xs += [pos[e.src][0], pos[e.dst][0], None]
                ys += [pos[e.src][1], pos[e.dst][1], None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=style, hoverinfo="skip",
                                     name="data flow" if kind == "flow" else "shared weights"))
    colors = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(info.groups)}
    fig.add_trace(go.Scatter(
        x=[n.x for n in info.nodes], y=[n.y for n in info.nodes], mode="markers+text",
        text=[_node_text(n) for n in info.nodes], name="blocks",
        textposition=["top center" if i % 2 == 0 else "bottom center" for i in range(len(info.nodes))],
        hovertext=[_node_text(n) + (f"<br>group {n.group}" if n.group else "") for n in info.nodes],
        hoverinfo="text",
        marker={"size": 26, "symbol": "square",
                "color": [colors.get(n.group, "#aec7e8") if n.group else "#aec7e8" for n in info.nodes],
                "line": {"color": ["#d62728" if n.highlight else "#1f3b5a" for n in info.nodes],
                         "width": [4 if n.highlight else 1 for n in info.nodes]}}))
    fig.update_layout(title=info.title, template="plotly_white", showlegend=bool(info.groups),
                      xaxis={"visible": False}, yaxis={"visible": False, "range": [-1.3, 1.5]},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, height=380)
    return fig


class DiffRow(NamedTuple):
    """One choice of two architectures (``None``: inactive)."""

    label: str
    a: Any
    b: Any
    differs: bool


class ArchDiffInfo(NamedTuple):
    """Which choices of architectures A and B differ."""

    name_a: str
    name_b: str
    rows: list[DiffRow]

    @property
    def changed(self) -> list[str]:
        """Labels that differ."""
        return [r.label for r in self.rows if r.differs]


def _arch_diff_info(a: Mapping[str, Any], b: Mapping[str, Any], labels: Sequence[str] = (),
                    name_a: str = "A", name_b: str = "B") -> ArchDiffInfo:
    """Every label of either architecture (the space's order first), with both values."""
    order = list(dict.fromkeys([*labels, *a, *b]))
    rows = [DiffRow(k, a.get(k), b.get(k), a.get(k) != b.get(k)) for k in order if k in a or k in b]
    return ArchDiffInfo(name_a, name_b, rows)
