"""mbconv and tinylm: build, forward, backward, gradients everywhere, export equals the supernet."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nas.catalog import SPACES
from nas.data import TASKS, Split
from nas.supernet.base import seeded_build

CASES = [("mbconv", "mnist5k", 64), ("tinylm", "pydoc-text", 16)]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request):
    name, task_name, n = request.param
    spec = SPACES.get(name)
    task = TASKS.get(task_name).load(0)
    task = replace(task, train=Split(task.train.x[:n], task.train.y[:n]))
    net = seeded_build(lambda: spec.build_supernet(spec.build_space(), task), 0)
    return spec, task, net


def _archs(net, spec):
    space, rng = net.space, np.random.default_rng(0)
    shallow = dict(space.max_values())
    for label in shallow:
        if label.endswith("depth"):
            shallow[label] = space.choice(label).options[0]  # depth-reduced, otherwise max
    return [net.max_arch(), net.min_arch(), space.make(shallow)] + [space.sample(rng) for _ in range(3)]


def test_forward_backward_every_parameter_gets_a_gradient(case):
    spec, task, net = case
    net.train()
    net.set_arch(net.max_arch())
    net.zero_grad()
    out = net(task.train.x[:8])
    assert out.shape[:2] == (8, task.num_classes)
    assert torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, task.train.y[:8]).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    assert all(float(p.grad.abs().sum()) > 0 for p in net.parameters())


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_export_equals_activated_supernet(case, mode):
    spec, task, net = case
    x = task.val.x[:16]
    with torch.no_grad():
        net.train()(task.train.x[:32])  # non-trivial BatchNorm running statistics
    getattr(net, mode)()
    for arch in _archs(net, spec):
        with torch.no_grad(), net.activate(arch):
            expected = net(x)
        static = net.export(arch)
        with torch.no_grad():
            got = static(x)
        assert torch.allclose(got, expected, atol=1e-5), spec.describe(arch)
        assert not any(type(m).__module__.startswith("nas.supernet.") and "static" not in type(m).__module__
                       for m in static.modules())
    net.eval()


def test_depth_reduced_subnet_is_smaller(case):
    spec, task, net = case
    full, shallow = _archs(net, spec)[0], _archs(net, spec)[2]
    count = lambda a: sum(p.numel() for p in net.export(a).parameters())  # noqa: E731
    assert count(shallow) < count(full)


def test_generated_source_rebuilds_the_subnet(case):
    codegen = pytest.importorskip("nas.export.codegen")
    spec, task, net = case
    arch = _archs(net, spec)[3]
    static = net.export(arch).eval()
    namespace = codegen.exec_source(codegen.generate_source(static))
    rebuilt = namespace["build"]().eval()
    rebuilt.load_state_dict(static.state_dict())
    x = task.val.x[:4]
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), static(x), atol=1e-6)


def test_superposed_forward_is_finite_and_reaches_architecture_weights(case):
    spec, task, net = case
    alphas = {c.label: torch.zeros(len(c.options), requires_grad=True) for c in net.space.choices}
    net.train()
    net.set_mixture({k: a.softmax(0) for k, a in alphas.items()})
    out = net(task.train.x[:8])
    assert torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, task.train.y[:8]).backward()
    assert all(a.grad is not None and torch.isfinite(a.grad).all() for a in alphas.values())
    assert [k for k, a in alphas.items() if float(a.grad.abs().sum()) == 0] == []
    net.set_arch(net.max_arch())


def test_mbconv_channel_sorting_keeps_the_largest_subnet_and_orders_importance():
    from nas.supernet.importance import channel_importance

    spec = SPACES.get("mbconv")
    task = TASKS.get("digits").load(0)
    net = seeded_build(lambda: spec.build_supernet(spec.build_space(), task), 1)
    with torch.no_grad():
        net.train()(task.train.x[:64])
    net.eval()
    x = task.val.x[:16]
    with torch.no_grad():
        before = net(x)
        net.sort_channels()
        after = net(x)
    assert torch.allclose(before, after, atol=1e-5)
    for stage in net.stages:
        for block in stage.blocks:
            imp = channel_importance(block.project.weight, 1)
            assert bool((imp[:-1] >= imp[1:]).all())
