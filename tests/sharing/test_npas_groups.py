"""NPAS layer-to-group mappings (type, random, single, learned k-means), the plan and the settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.config import load_config
from nas.errors import ConfigError
from nas.sharing import SHARING, SharingConfig, SharingPlan, load_modes
from nas.sharing.bank import banked_layers
from nas.sharing.npas import learned_groups, make_groups, random_groups, renumber, type_groups
from tests.sharing.npas_helpers import tiny_banked, tiny_cnn1d


def test_type_groups_put_alike_layers_together(mnist1d_task):
    layers = banked_layers(tiny_cnn1d(mnist1d_task))
    assert [layer.module for layer in layers][0] == "stem.conv" and layers[-1].module == "head"
    groups = type_groups(layers)
    assert groups[0] == 0 and groups[-1] == 2 and set(groups[1:-1]) == {1}


def test_random_groups_are_seeded_partitions_with_no_empty_group():
    a = random_groups(11, 3, seed=4)
    assert a == random_groups(11, 3, seed=4)
    assert sorted(set(a)) == [0, 1, 2] and len(a) == 11
    assert any(random_groups(11, 3, seed=s) != a for s in range(5, 10))
    with pytest.raises(ConfigError, match="sharing.num_groups"):
        random_groups(4, 5, seed=0)


def test_learned_groups_cluster_layers_by_the_direction_of_their_coefficients():
    rng = np.random.default_rng(0)
    a, b = np.array([1.0, 0, 0, 0]), np.array([0, 0, 1.0, 1.0])
    # scales differ per layer (init scales differ): only the direction may matter
    coefs = np.stack([d * s + rng.normal(0, 0.01, 4) for d, s in [(a, 1), (b, 5), (a, 0.1), (b, 0.2), (a, 3)]])
    groups = learned_groups(coefs, 2, seed=0)
    assert groups == renumber([0, 1, 0, 1, 0])
    with pytest.raises(ConfigError, match="sharing.groups"):
        make_groups("learned", [], 2, 0, None)


def test_sharing_settings_are_validated_with_their_names():
    with pytest.raises(ConfigError, match="sharing.templates"):
        SharingConfig(kind="npas", templates=0)
    with pytest.raises(ConfigError, match="sharing.upsample"):
        SharingConfig(kind="npas", upsample="cubic")
    cfg = load_config(None, {"sharing.kind": "npas", "sharing.groups": "learned", "sharing.warmup_epochs": 0})
    load_modes()
    from nas.catalog import SPACES

    with pytest.raises(ConfigError, match="sharing.warmup_epochs"):
        SHARING.get("npas").check(SPACES.get("cnn1d"), "mnist1d", cfg)


def test_the_plan_marks_banked_layers_with_their_group_and_round_trips(mnist1d_task):
    from nas.catalog import SPACES

    load_modes()
    net = tiny_banked(mnist1d_task, 0.25, "type")
    cfg = load_config(None, {"sharing.kind": "npas", "sharing.groups": "type", "sharing.param_budget": 0.25})
    plan = SHARING.get("npas").plan(net, SPACES.get("cnn1d"), cfg)
    banked = {s: d for (_, s), d in plan.graph.nodes(data=True) if d["source"] == "bank"}
    assert set(banked) == {layer.module for layer in net.layers}
    assert {d["group"] for d in banked.values()} == {"bank0", "bank1", "bank2"}
    assert banked["head"]["bank_params"] == net.bank_sizes[2]
    assert plan.meta["params_stored"] == net.budget and plan.validate() == []
    assert SharingPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
