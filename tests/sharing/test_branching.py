"""Learning to Branch: Gumbel-softmax parents, temperature schedule, tree derivation, tree supernet."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nas.data import TASKS, Split
from nas.errors import ConfigError
from nas.export.codegen import exec_source, generate_source
from nas.sharing import SharingConfig, SharingPlan
from nas.sharing.branching import GumbelTree, TemperatureSchedule, TreeLearnConfig, gumbel_softmax, learn_tree
from nas.sharing.branching_mode import BranchingMode
from nas.sharing.tree import StaticTree, Tree, derive_tree
from nas.sharing.tree_supernet import TreeSupernet, build_tree_space

TASKS4 = ("a", "b", "c", "d")
HEADS4 = (("a", 4), ("b", 2), ("c", 4), ("d", 2))


@pytest.fixture(scope="module")
def affinity_small():
    task = TASKS.get("synthetic-affinity").load(0)
    return dataclasses.replace(task, train=Split(task.train.x[:384], task.train.y[:384]),
                               val=Split(task.val.x[:200], task.val.y[:200]))


def test_gumbel_softmax_is_one_hot_forward_with_soft_gradients_and_owned_noise() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, 0.0]], requires_grad=True)
    g1 = gumbel_softmax(logits, 1.0, torch.Generator().manual_seed(3))
    g2 = gumbel_softmax(logits, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(g1, g2)
    assert torch.equal(g1.detach().sum(1), torch.ones(2)) and set(g1.detach().flatten().tolist()) <= {0.0, 1.0}
    (g1 * torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    no_noise = gumbel_softmax(logits.detach(), 0.5, None)
    assert no_noise.argmax(1).tolist() == [1, 0]
    # Sampled parents follow the logits: a dominant parent is drawn most of the time.
    gen = torch.Generator().manual_seed(0)
    picks = [int(gumbel_softmax(torch.tensor([3.0, 0.0]), 1.0, gen).argmax()) for _ in range(300)]
    assert 0.85 < picks.count(0) / 300 < 1.0


def test_temperature_holds_through_warmup_then_decays_to_its_floor() -> None:
    s = TemperatureSchedule(tau0=5.0, tau_min=0.5, warmup_steps=10, anneal_steps=20)
    taus = [s.at(i) for i in range(40)]
    assert taus[:11] == [5.0] * 11
    assert all(a >= b for a, b in zip(taus, taus[1:]))
    assert taus[30] == pytest.approx(0.5) and taus[39] == pytest.approx(0.5)


def test_derivation_prunes_unreached_nodes_and_renumbers() -> None:
    # layer 2 node 1 and layer 1 node 0 are reached by no head.
    tree = derive_tree([[-1], [0, 0], [1, 0, 1]], heads=[0, 0, 2, 2], tasks=TASKS4)
    assert tree.layers == ((-1,), (0,), (0, 0)) and tree.heads == (0, 0, 1, 1)
    assert tree.problems() == []
    assert tree.first_split() == (2, (0, 0, 1, 1))
    assert tree.users()[(0, 0)] == TASKS4
    assert Tree.from_dict(tree.to_dict()) == tree
    assert Tree.shared(3, TASKS4).first_split() == (None, (0, 0, 0, 0))
    assert Tree.separate(3, TASKS4).first_split() == (0, (0, 1, 2, 3))


def test_invalid_trees_are_refused_with_the_rule() -> None:
    with pytest.raises(ConfigError, match="unreached"):
        Tree(((-1,), (0, 0)), (0, 0), ("a", "b"))
    with pytest.raises(ConfigError, match="parents must index"):
        Tree(((-1,), (3,)), (0,), ("a",))
    with pytest.raises(ConfigError, match="one head per task"):
        Tree(((-1,),), (0,), ("a", "b"))
    with pytest.raises(ConfigError, match="sharing.tree_nodes"):
        SharingConfig(tree_nodes=[])
    with pytest.raises(ConfigError, match="sharing.tree_width"):
        SharingConfig(tree_width=2)


def test_gumbel_relaxation_gives_a_valid_tree_whose_derived_network_inherits_the_weights(affinity_small) -> None:
    config = TreeLearnConfig(nodes=(1, 2, 4), width=8, warmup_epochs=1, epochs=2, batch_size=128)
    result = learn_tree(affinity_small, config, seed=0)
    tree = result.tree
    assert tree.problems() == [] and tree.tasks == tuple(n for n, _ in affinity_small.heads)
    assert [len(layer) for layer in tree.layers][0] == 1 and all(1 <= len(l) <= n for l, n in zip(tree.layers, config.nodes))
    assert len(result.history) == 3 and result.history[0]["learning"] == 0.0 and result.history[-1]["learning"] == 1.0
    assert 0.0 <= result.val_accuracy["accuracy"] <= 100.0
    # The derived module (argmax parents, pruned) computes what the Gumbel tree computes without noise.
    torch.manual_seed(0)
    net = GumbelTree(2, 32, affinity_small.heads, config)
    with torch.no_grad():
        for lg in [*net.logits, net.head_logits]:
            lg.normal_()
    net.eval()
    derived, module = net.derived_module()
    x = affinity_small.val.x[:16]
    assert torch.allclose(net(x, 1.0, None), module.eval()(x), atol=1e-5)
    assert len(module.nodes) == sum(len(layer) for layer in derived.layers)


def _tree_net(tree: Tree) -> TreeSupernet:
    space = build_tree_space(tree, (4, 8), (3, 5), "tree-test")
    torch.manual_seed(1)
    return TreeSupernet(space, tree, 2, 32, HEADS4)


def test_tree_supernet_exports_equal_outputs_and_each_shared_node_once() -> None:
    tree = Tree(((-1,), (0, 0)), (0, 0, 1, 1), TASKS4)
    net = _tree_net(tree).eval()
    x = torch.randn(8, 2, 32)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = net.space.sample(rng)
        with net.activate(arch):
            ref = net(x)
        static = net.export(arch)
        assert isinstance(static, StaticTree) and len(static.nodes) == 3 and ref.shape == (8, 12)
        assert torch.allclose(static(x), ref, atol=1e-5)
    # Written as standalone source: the trunk node is built once and the output is unchanged.
    static = net.export(net.max_arch())
    rebuilt = exec_source(generate_source(static))["build"]()
    rebuilt.load_state_dict(static.state_dict())
    assert torch.allclose(rebuilt.eval()(x), static(x), atol=1e-6)
    shared_params = sum(p.numel() for p in static.parameters())
    separate = _tree_net(Tree.separate(2, TASKS4)).export(_tree_net(Tree.separate(2, TASKS4)).max_arch())
    assert shared_params < sum(p.numel() for p in separate.parameters())


def test_plan_lists_tasks_as_members_and_shared_nodes_once() -> None:
    tree = Tree(((-1,), (0, 0)), (0, 0, 1, 1), TASKS4)
    net = _tree_net(tree)
    plan = BranchingMode().plan(net, None, None)  # type: ignore[arg-type]
    assert plan.validate() == []
    members = {m for m, _ in plan.graph.nodes}
    assert members == {"shared", "a+b", "c+d", *TASKS4}
    assert sum(1 for m, s in plan.graph.nodes if s.startswith("l")) == 3  # the trunk node exists once
    assert plan.meta["first_split"] == 1 and plan.meta["partition"] == [0, 0, 1, 1]
    assert SharingPlan.from_dict(plan.to_dict()) == plan
    trunk = plan.graph.nodes[("shared", "l0.n0")]
    assert trunk["tasks"] == list(TASKS4) and trunk["params"] == sum(p.numel() for p in net.nodes[0].parameters())


def test_branching_refuses_single_task_tasks_naming_the_task() -> None:
    from nas.catalog import SPACES
    from nas.config import load_config

    spec = SPACES.get("cnn1d")
    mode = BranchingMode()
    assert "mnist1d-multi" in mode.tasks(spec) and "synthetic-affinity" in mode.tasks(spec)
    with pytest.raises(ConfigError, match="`task` must be a multi-task task"):
        mode.check(spec, "mnist1d", load_config(None, {"sharing.kind": "branching"}))


def test_head_accuracies_are_valid_objectives_of_multitask_runs_only() -> None:
    from nas.config import load_config
    from nas.runner import check_names

    objectives = "acc_digit:max,latency_ms:min"
    spec, task = check_names(load_config(None, {"sharing.kind": "branching", "task": "mnist1d-multi",
                                                "objectives": objectives}))
    assert (spec.name, task) == ("cnn1d", "mnist1d-multi")
    with pytest.raises(ConfigError, match="acc_digit"):
        check_names(load_config(None, {"objectives": objectives}))
