"""cnn1d variants (narrow widths, fewer depths, per-width BatchNorm) keep the space's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.catalog import SPACES
from nas.errors import ConfigError
from search_spaces.cnn1d import CNN1dSupernet, build_cnn1d_space

# ids of the registered space as first released: variants must never change them
RELEASED_IDS = ["3cb4c53ce9e1", "75ff300381c8", "b7a02b7233c6", "684422269959", "4ab80d9b6cf8"]


def test_registered_space_ids_are_unchanged():
    space = SPACES.get("cnn1d").build_space()
    rng = np.random.default_rng(0)
    assert [space.sample(rng).arch_id for _ in range(5)] == RELEASED_IDS
    assert space.make(space.max_values()).arch_id == "2c633e37b6fc"


@pytest.mark.parametrize("bn_per_width", [False, True])
def test_variant_exports_equal_the_activated_supernet(bn_per_width, mnist1d_task):
    space = build_cnn1d_space(widths=(2, 4, 8), depths=(1, 2), kernels=(3, 5))
    assert max(space.choice("s1.depth").options) == 2 and "s1.b3.kernel" not in space.labels
    torch.manual_seed(0)
    net = CNN1dSupernet(space, 1, 40, 10, bn_per_width=bn_per_width)
    x = mnist1d_task.train.x[:16]
    rng = np.random.default_rng(0)
    uniform = [space.make({**space.max_values(), **{f"s{s}.width": w for s in (1, 2, 3)}}) for w in (2, 4, 8)]
    archs = [net.max_arch(), net.min_arch(), *uniform] + [space.sample(rng) for _ in range(3)]
    net.train()
    for arch in archs:  # train-mode passes: each width's statistics move, gradients reach every BN
        with net.activate(arch):
            net(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    net.eval()
    for arch in archs:
        with torch.no_grad(), net.activate(arch):
            expected = net(x)
        assert torch.allclose(net.export(arch).eval()(x), expected, atol=1e-5), arch.short()


def test_per_width_bn_keeps_separate_statistics(mnist1d_task):
    space = build_cnn1d_space(widths=(2, 4), depths=(1,), kernels=(3,))
    net = CNN1dSupernet(space, 1, 40, 10, bn_per_width=True).train()
    narrow = space.make(space.min_values())
    with torch.no_grad(), net.activate(narrow):
        net(mnist1d_task.train.x[:32])
    bns = net.stem.bn.bns
    assert not torch.equal(bns["2"].running_mean, torch.zeros(2))
    assert torch.equal(bns["4"].running_mean, torch.zeros(4))  # the wide BN never saw the narrow pass


@pytest.mark.parametrize("kwargs, message", [
    ({"widths": (8, 4)}, "`widths` must be distinct positive integers in ascending order"),
    ({"kernels": (3, 4)}, "`kernels` must be odd"),
    ({"depths": (2, 3)}, "`depths` must start at 1"),
])
def test_bad_variant_options_name_the_parameter(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_cnn1d_space(**kwargs)
