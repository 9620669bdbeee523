"""NPAS layer-to-group mappings (type, random, single, learned k-means), the plan and the settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.config import load_config
from nas.errors import ConfigError
from nas.sharing import SHARING, SharingConfig, SharingPlan, load_modes
from nas.sharing.bank import banked_layers
from nas.sharing.npas import (balanced_assign, group_loads, learned_groups, make_groups, random_groups, renumber,
                              type_groups)
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


# cnn1d's banked layers at full size: stem conv, nine block convs, the linear head
CNN1D_SIZES = [240] + [16128] * 9 + [4800]


def _outlier_coefs(seed: int = 0) -> np.ndarray:
    """Coefficients where one block moved in a direction of its own (plain k-means isolates it)."""
    rng = np.random.default_rng(seed)
    a, b, c = np.array([1.0, 0, 0, 0]), np.array([0, 1.0, 0, 0]), np.array([0, 0, 0, 1.0])
    dirs = [a] * 6 + [b] * 4
    dirs.insert(5, c)  # block 4 alone
    return np.stack([d + rng.normal(0, 0.01, 4) for d in dirs])


def test_plain_kmeans_isolates_an_outlier_layer_but_balanced_groups_stay_within_their_share():
    coefs = _outlier_coefs()
    plain = learned_groups(coefs, 3, seed=0)
    assert [g for i, g in enumerate(plain) if plain.count(g) == 1] == [plain[5]]  # the outlier, alone
    assert min(group_loads(plain, CNN1D_SIZES)) == 16128  # a third of an equal share
    balanced = learned_groups(coefs, 3, seed=0, sizes=CNN1D_SIZES)
    loads = group_loads(balanced, CNN1D_SIZES)
    share = sum(CNN1D_SIZES) / 3
    assert len(loads) == 3 and all(0.75 * share <= x <= 1.25 * share for x in loads)


def test_balanced_groups_keep_clean_equal_clusters_and_follow_the_coefficients():
    rng = np.random.default_rng(1)
    a, b = np.array([1.0, 0, 0, 0]), np.array([0, 0, 1.0, 0])
    coefs = np.stack([(a if i % 2 else b) + rng.normal(0, 0.01, 4) for i in range(8)])
    sizes = [100] * 8
    assert learned_groups(coefs, 2, seed=0, sizes=sizes) == learned_groups(coefs, 2, seed=0)
    # unequal sizes: layers move only as far as the balance requires, nearest first
    groups = balanced_assign(coefs, [400, 100, 100, 100, 100, 100, 100, 100], np.stack([b, a]), slack=0.25)
    assert group_loads(groups, [400, 100, 100, 100, 100, 100, 100, 100]) in ([500, 600], [600, 500])


def test_balanced_assignment_never_empties_a_group_and_names_bad_inputs():
    coefs = np.tile(np.array([1.0, 0, 0, 0]), (5, 1))  # identical layers: k-means sees one cluster
    groups = balanced_assign(coefs, [10, 10, 10, 10, 10], np.stack([np.eye(4)[0], np.eye(4)[3]]))
    assert sorted(set(groups)) == [0, 1] and sorted(group_loads(groups, [10] * 5)) == [20, 30]
    with pytest.raises(ConfigError, match="sizes"):
        balanced_assign(coefs, [1, 2], np.eye(4)[:2])
    with pytest.raises(ConfigError, match="slack"):
        balanced_assign(coefs, [1] * 5, np.eye(4)[:2], slack=1.5)


def test_the_learned_mapping_of_make_groups_is_balanced_by_generated_parameters(mnist1d_task):
    layers = banked_layers(tiny_cnn1d(mnist1d_task))
    coefs = np.eye(4)[[0, 0, 0, 3, 0, 0, 0, 0][: len(layers)] + [0] * max(0, len(layers) - 8)]
    sizes = [layer.numel for layer in layers]
    groups = make_groups("learned", layers, 2, 0, coefs)
    assert groups == learned_groups(coefs, 2, 0, sizes=sizes)
    share = sum(sizes) / 2
    assert max(group_loads(groups, sizes)) <= max(max(sizes), 1.25 * share)
