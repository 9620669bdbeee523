"""SharingPlan: graph building, JSON round trip, validation, and the plan a run stores."""

from __future__ import annotations

import json

import pytest

from nas.errors import ConfigError
from nas.sharing import SHARING, SharingConfig, SharingPlan, plan_from_supernet


def _ensemble_plan() -> SharingPlan:
    plan = SharingPlan("ensemble", {"members": 2, "split": 1})
    stem = plan.add_layer("shared", "stem", group="stem", source="slice", params=100)
    heads = [plan.add_layer(f"m{i}", "head", group=f"m{i}.head", source="slice", params=30) for i in range(2)]
    for h in heads:
        plan.add_flow(stem, h)
    plan.add_layer("m1", "adapter", group="m0.head", source="tied", tied_to=("m0", "head"), params=30)
    return plan


def test_round_trip_through_json_keeps_every_node_and_edge() -> None:
    plan = _ensemble_plan()
    again = SharingPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.graph.number_of_edges() == 2
    assert again.graph.nodes[("m1", "adapter")]["tied_to"] == ("m0", "head")
    assert again.members == ["m0", "m1", "shared"]


def test_groups_and_stored_params_count_a_shared_group_once() -> None:
    plan = _ensemble_plan()
    assert set(plan.shared_groups()) == {"m0.head"}
    assert plan.stored_params() == 100 + 30 + 30
    assert plan.validate() == []


def test_bad_plans_are_refused_with_the_rule() -> None:
    plan = _ensemble_plan()
    with pytest.raises(ConfigError, match="source"):
        plan.add_layer("m0", "x", group="g", source="magic")
    with pytest.raises(ConfigError, match="once"):
        plan.add_layer("shared", "stem", group="stem")
    with pytest.raises(ConfigError, match="acyclic"):
        plan.add_flow(("m0", "head"), ("shared", "stem"))
    plan.add_layer("m0", "dangling", group="d", source="tied", tied_to=("m9", "nope"))
    assert any("tied_to" in p for p in plan.validate())
    with pytest.raises(ConfigError, match="version-1"):
        SharingPlan.from_dict({"version": 7})


def test_plan_from_supernet_lists_parameterised_layers_in_order() -> None:
    from torch import nn

    net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Linear(4, 2))
    plan = plan_from_supernet(net)
    assert [s for _, s in plan.graph.nodes] == ["0", "2"]
    assert plan.stored_params() == sum(p.numel() for p in net.parameters())
    assert list(plan.graph.edges) == [(("shared", "0"), ("shared", "2"))]


def test_sharing_config_rules_name_the_key() -> None:
    assert SharingConfig(param_budget=0.25).budget_params(1000) == 250
    assert SharingConfig(param_budget=5000).budget_params(1000) == 5000
    with pytest.raises(ConfigError, match="sharing.param_budget"):
        SharingConfig(param_budget=-1)
    with pytest.raises(ConfigError, match="sharing.param_budget"):
        SharingConfig(param_budget=150.5)
    with pytest.raises(ConfigError, match="sharing.groups"):
        SharingConfig(groups="kmeans")
    assert "none" in SHARING
