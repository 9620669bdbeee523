"""The :class:`SharingPlan`: *where* layers share parameters, as data.

A plan is a ``networkx.DiGraph`` whose nodes are layer instances ``(member, slot)`` — ``member``
is an ensemble member, a task branch, a sub-supernet, or ``"shared"`` for layers every member
runs — with attributes naming the layer's parameter ``group`` and weight-source ``source`` kind
(DESIGN §4). Edges are data flow. Every sharing mechanism produces or rewrites a plan; the run
stores it as ``sharing_plan.json``; the dashboard draws it; export honours it (a layer whose node
is reached by several members is exported once).

Example::

    plan = SharingPlan("ensemble")
    plan.add_layer("shared", "stem", group="stem", source="slice", params=240)
    plan.add_layer("m0", "head", group="m0.head", source="slice", params=650)
    plan.add_flow(("shared", "stem"), ("m0", "head"))
    store.write_json("sharing_plan.json", plan.to_dict())
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from nas.errors import ConfigError, invalid

__all__ = ["SharingPlan", "SOURCES", "Node", "PLAN_FILE"]

SOURCES = ("slice", "superpose", "bank", "tied", "routed", "static")
PLAN_FILE = "sharing_plan.json"
Node = tuple[str, str]


class SharingPlan:
    """A directed graph of layer instances with their parameter group and weight source.

    Args:
        kind: The sharing mechanism that made the plan (``none``, ``npas``, ``ensemble``, ...).
        meta: Mechanism-level facts (budget, K, split point, derived tree, ...), JSON-serialisable.
    """

    def __init__(self, kind: str, meta: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.meta: dict[str, Any] = dict(meta or {})
        self.graph: nx.DiGraph = nx.DiGraph()

    def add_layer(self, member: str, slot: str, *, group: str, source: str = "slice", **attrs: Any) -> Node:
        """Adds the layer instance ``(member, slot)``.

        Args:
            member: Member, branch or sub-supernet owning the instance (``shared`` for all).
            slot: The layer's position in the network (e.g. ``s2.b1.conv``).
            group: Parameter group: instances with the same group draw on the same parameters.
            source: Weight-source kind, one of :data:`SOURCES`.
            **attrs: JSON-serialisable extras (``params``, ``shape``, ``tied_to``, ``rank``, ...).

        Raises:
            ConfigError: for an unknown source or a node added twice.
        """
        if source not in SOURCES:
            raise invalid("source", f"be one of {list(SOURCES)}", source)
        node = (str(member), str(slot))
        if node in self.graph:
            raise ConfigError(f"`layer` must be added once to a sharing plan, got {node} twice")
        self.graph.add_node(node, group=str(group), source=source, **attrs)
        return node

    def add_flow(self, src: Node, dst: Node) -> None:
        """Adds a data-flow edge between two existing layer instances.

        Raises:
            ConfigError: if either node is unknown or the edge would make a cycle.
        """
        for n in (src, dst):
            if n not in self.graph:
                raise ConfigError(f"`flow` must join layers of the plan, got unknown layer {n}")
        self.graph.add_edge(src, dst)
        if not nx.is_directed_acyclic_graph(self.graph):
            self.graph.remove_edge(src, dst)
            raise ConfigError(f"`flow` must keep the plan acyclic, got an edge {src} -> {dst} that closes a cycle")

    def chain(self, nodes: Iterable[Node]) -> None:
        """Adds flow edges along ``nodes`` in order."""
        seq = list(nodes)
        for a, b in zip(seq, seq[1:]):
            self.add_flow(a, b)

    @property
    def members(self) -> list[str]:
        """Members that own at least one layer instance, sorted."""
        return sorted({m for m, _ in self.graph.nodes})

    def groups(self) -> dict[str, list[Node]]:
        """Parameter group → the layer instances drawing on it (in insertion order)."""
        out: dict[str, list[Node]] = {}
        for node, data in self.graph.nodes(data=True):
            out.setdefault(data["group"], []).append(node)
        return out

    def shared_groups(self) -> dict[str, list[Node]]:
        """Groups used by more than one layer instance: where parameters are actually shared."""
        return {g: nodes for g, nodes in self.groups().items() if len(nodes) > 1}

    def stored_params(self) -> int:
        """Parameters stored once per group (a group's ``params``: the max over its instances)."""
        total = 0
        for nodes in self.groups().values():
            total += max(int(self.graph.nodes[n].get("params", 0)) for n in nodes)
        return total

    def validate(self) -> list[str]:
        """What is wrong with the plan (empty when it is sound): cycles, dangling ``tied_to``."""
        problems: list[str] = []
        if not nx.is_directed_acyclic_graph(self.graph):
            problems.append("the plan's data flow has a cycle")
        for node, data in self.graph.nodes(data=True):
            if data["source"] == "tied":
                target = data.get("tied_to")
                if target is None or tuple(target) not in self.graph:
                    problems.append(f"tied layer {node} must name an existing `tied_to` layer, got {target!r}")
        return problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``sharing_plan.json``): nodes with attributes, edges, kind and meta."""
        nodes = [{"member": m, "slot": s, **data} for (m, s), data in self.graph.nodes(data=True)]
        edges = [[list(a), list(b)] for a, b in self.graph.edges]
        return {"version": 1, "kind": self.kind, "meta": self.meta, "nodes": nodes, "edges": edges}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SharingPlan:
        """Rebuilds a plan from :meth:`to_dict` output.

        Raises:
            ConfigError: if the data is not a plan of a known version.
        """
        if not isinstance(data, dict) or data.get("version") != 1:
            raise invalid("sharing_plan", "be a version-1 sharing plan", type(data).__name__ if not isinstance(data, dict)
                          else data.get("version"))
        plan = cls(str(data.get("kind", "none")), data.get("meta") or {})
        for item in data.get("nodes", []):
            attrs = {k: v for k, v in item.items() if k not in ("member", "slot", "group", "source")}
            if "tied_to" in attrs and attrs["tied_to"] is not None:
                attrs["tied_to"] = tuple(attrs["tied_to"])
            plan.add_layer(item["member"], item["slot"], group=item["group"], source=item["source"], **attrs)
        for a, b in data.get("edges", []):
            plan.add_flow(tuple(a), tuple(b))  # type: ignore[arg-type]
        return plan

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharingPlan) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"SharingPlan(kind={self.kind!r}, layers={self.graph.number_of_nodes()}, "
                f"groups={len(self.groups())}, members={self.members})")
