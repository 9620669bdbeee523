"""Ensemble supernet: the derived space, the trunk run once, averaged logits, K-division, export, plan."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.errors import ConfigError
from nas.export.codegen import exec_source, generate_source
from nas.profiling.cost import count_params
from nas.sharing import SharingPlan
from nas.sharing.ensemble import StaticEnsemble
from nas.sharing.ensemble_mode import ensemble_plan
from tests.sharing.ensemble_helpers import make_ensemble, small_mnist1d


@pytest.fixture(scope="module")
def task():
    return small_mnist1d()


@pytest.fixture(scope="module")
def ens(task):
    net, spec = make_ensemble(task, members=3)
    return net.eval(), spec


def _arch(space, **values):
    base = {c.label: c.options[-1] for c in space.choices}
    base.update(values)
    return space.make(base)


def test_space_has_members_split_and_per_member_choices_with_conditions(ens) -> None:
    net, spec = ens
    space = spec.build_space()
    assert space.name == "cnn1d+ensemble" and space.choice("split").options == (3, 2, 1, 0)
    single = _arch(space, members=1)
    assert "split" not in single and all(k == "members" or k.startswith("m0.") for k, _ in single.items)
    two = _arch(space, members=2, split=1)
    labels = {k for k, _ in two.items}
    assert {"s1.width", "m0.s2.width", "m1.s3.width"} <= labels
    assert not labels & {"m0.s1.width", "m1.s1.width", "s2.width", "m2.s2.width"}  # inactive: dropped
    # Inactive values do not change the id: member 2's choices do not count with K = 2.
    other = dict(two.to_dict(), **{"m2.s2.width": 8})
    assert space.make(other).arch_id == two.arch_id
    assert net.member_arch(two, 1)["s1.width"] == two["s1.width"]  # the trunk's choice


def test_one_member_is_the_single_model_supernet(ens, task) -> None:
    net, spec = ens
    space, rng = spec.build_space(), np.random.default_rng(3)
    arch = space.make({c.label: c.options[int(rng.integers(len(c.options)))] for c in space.choices} | {"members": 1})
    x = task.val.x[:16]
    with torch.no_grad(), net.activate(arch):
        out = net(x)
        alone = net.nets[0](x)
    assert torch.equal(out, alone)


def test_output_is_the_mean_of_member_logits_with_the_trunk_run_once(ens, task) -> None:
    net, spec = ens
    arch = _arch(spec.build_space(), members=3, split=2)
    calls = []
    hook = net.nets[0].stem.register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad(), net.activate(arch):
            members = net.member_logits(task.val.x[:8])
            out = net(task.val.x[:8])
    finally:
        hook.remove()
    assert len(calls) == 2  # one trunk pass per forward, not one per member
    assert torch.allclose(out, torch.stack(members).mean(0))


def test_trunk_gradient_is_divided_by_k(ens, task) -> None:
    net, spec = ens
    arch = _arch(spec.build_space(), members=3, split=1)
    x, y = task.train.x[:32], task.train.y[:32]
    net.train()
    try:
        net.set_arch(arch)
        net.zero_grad()
        sum(F.cross_entropy(o, y) for o in net.member_logits(x)).backward()
        hooked = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        # The same losses without the hook: run the trunk and members by hand.
        net.zero_grad()
        h = net.adapter.forward_range(net.nets[0], x, 1, 1)
        sum(F.cross_entropy(net.adapter.forward_range(net.nets[i], h, 2, 4), y) for i in range(3)).backward()
        plain = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    finally:
        net.zero_grad()
        net.eval()
    trunk = [n for n in hooked if n.startswith(("nets.0.stem.", "nets.0.blocks.0.")) and "weight" in n]
    heads = [n for n in hooked if n.startswith(("nets.1.head", "nets.2.blocks.3."))]
    assert trunk and heads and set(hooked) == set(plain)
    for n in trunk:
        assert torch.allclose(hooked[n], plain[n] / 3, atol=1e-6), n
    for n in heads:
        assert torch.allclose(hooked[n], plain[n], atol=1e-6), n


def test_export_holds_the_trunk_once_and_equals_the_supernet(ens, task) -> None:
    net, spec = ens
    arch = _arch(spec.build_space(), members=3, split=2, **{"s1.width": 16, "m1.s3.width": 8})
    static = net.export(arch).eval()
    assert isinstance(static, StaticEnsemble) and len(static.heads) == 3
    trunk_params = count_params(static.trunk)
    head_params = [count_params(h) for h in static.heads]
    assert count_params(static) == trunk_params + sum(head_params)  # unique tensors: the trunk once
    assert trunk_params > 0
    x = task.val.x[:32]
    with torch.no_grad(), net.activate(arch):
        want = net(x)
    assert torch.allclose(static(x), want, atol=1e-5)
    # Written as standalone source: one trunk, three heads, the same function.
    source = generate_source(static)
    built = exec_source(source)["build"]()
    built.load_state_dict(static.state_dict())
    assert "class StaticEnsemble" in source and count_params(built) == count_params(static)
    assert torch.allclose(built.eval()(x), want, atol=1e-5)


def test_plan_has_a_shared_trunk_and_stores_every_weight_once(ens) -> None:
    net, _ = ens
    plan = ensemble_plan(net)
    assert plan.members == ["m0", "m1", "m2", "shared"]
    assert plan.validate() == []
    assert plan.stored_params() == sum(p.numel() for p in net.parameters())
    assert plan.graph.nodes[("shared", "stage1")]["group"] == plan.graph.nodes[("m0", "stage1")]["group"]
    assert (("shared", "stage2"), ("m1", "stage3")) in plan.graph.edges
    assert SharingPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_mode_refuses_a_space_without_an_ensemble_adapter() -> None:
    from nas.catalog import SPACES
    from nas.config import load_config
    from nas.sharing import SHARING, load_modes

    load_modes()
    cfg = load_config(None, {"sharing.kind": "ensemble"})
    with pytest.raises(ConfigError, match="sharing.kind"):
        SHARING.get("ensemble").check(SPACES.get("mbconv"), "mnist5k", cfg)
