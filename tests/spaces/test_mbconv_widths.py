"""mbconv with elastic stage widths (the ranking benchmark's variant) keeps the space's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.ranking_jobs import Variant
from nas.catalog import SPACES
from nas.errors import ConfigError
from search_spaces.mbconv import MBConvSupernet, build_mbconv_space, mbconv_features, short_mbconv

WIDTHS = (2, 4, 8)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return MBConvSupernet(build_mbconv_space(WIDTHS), 1, 12, 10)


def _archs(space):
    rng = np.random.default_rng(0)
    uniform = [space.make({**space.max_values(), **{f"s{s}.width": w for s in (1, 2, 3)}}) for w in WIDTHS]
    mixed = space.make({**space.min_values(), "s1.width": 8, "s2.width": 2, "s3.width": 4, "s3.depth": 3})
    return [space.make(space.max_values()), space.make(space.min_values()), *uniform, mixed] + \
        [space.sample(rng) for _ in range(4)]


# ids of the registered space before the width variant existed: the variant must never change them
RELEASED_IDS = ["7d2b0ccacc58", "cadc0598f55b", "a17ee4781a0f"]


def test_registered_space_has_no_width_choice_and_its_ids_stay():
    registered = SPACES.get("mbconv").build_space()
    assert not [c for c in registered.labels if c.endswith(".width")]
    rng = np.random.default_rng(0)
    assert [registered.sample(rng).arch_id for _ in range(3)] == RELEASED_IDS
    assert registered.make(registered.max_values()).arch_id == "0b31ae86bfbe"


def test_exports_equal_the_activated_supernet_in_both_modes(net):
    x = torch.randn(16, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    archs = _archs(net.space)
    net.train()
    for arch in archs:  # train-mode passes: statistics move, gradients reach every parameter
        with net.activate(arch):
            net(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    for mode in ("train", "eval"):
        for arch in archs:
            getattr(net, mode)()
            with torch.no_grad(), net.activate(arch):
                expected = net(x)
            static = getattr(net.export(arch), mode)()
            with torch.no_grad():
                assert torch.allclose(static(x), expected, atol=1e-5), (mode, short_mbconv(arch))
    net.eval()


def test_narrow_widths_slice_every_layer(net):
    narrow = net.space.make({**net.space.max_values(), **{f"s{s}.width": 2 for s in (1, 2, 3)}})
    static = net.export(narrow)
    first, last = static.stages[0][0], static.stages[-1][-1]
    assert first.project[0].out_channels == 2 and first.expand[0].out_channels == 8 * 6  # stem 8 -> 2
    assert last.expand[0].in_channels == 2 and last.expand[0].out_channels == 2 * 6
    assert static.head.in_features == 2
    assert [b.residual for stage in static.stages for b in stage] == [False, True, True] * 3
    count = lambda a: sum(p.numel() for p in net.export(a).parameters())  # noqa: E731
    assert count(narrow) < count(net.space.make(net.space.max_values()))


def test_width_mixture_reaches_the_width_weights(net):
    alphas = {c.label: torch.zeros(len(c.options), requires_grad=True) for c in net.space.choices}
    net.train()
    net.set_mixture({k: a.softmax(0) for k, a in alphas.items()})
    out = net(torch.randn(8, 1, 12, 12))
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(float(alphas[f"s{s}.width"].grad.abs().sum()) > 0 for s in (1, 2, 3))
    net.set_arch(net.max_arch())


def test_short_form_and_features_carry_the_widths(net):
    arch = _archs(net.space)[5]
    assert short_mbconv(arch).split()[0].startswith("d1w8")
    assert len(mbconv_features(arch)) == 4
    registered = SPACES.get("mbconv").build_space()
    assert len(mbconv_features(registered.make(registered.max_values()))) == 3


def test_variant_builds_mbconv_widths_and_rejects_cnn1d_options():
    space, _, tasks = Variant("mbconv", widths=WIDTHS).build()
    assert space.choice("s2.width").options == WIDTHS and "mnist5k" in tasks
    with pytest.raises(ConfigError, match="mbconv takes `widths` alone"):
        Variant("mbconv", widths=WIDTHS, depths=(1, 2)).build()
    with pytest.raises(ConfigError, match="`widths` must be distinct positive integers"):
        build_mbconv_space((4, 2))
