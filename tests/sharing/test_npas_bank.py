"""The `bank` weight source: exact budgets, gradients, template generation, slicing, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from nas.errors import ConfigError
from nas.sharing.bank import BankedSupernet, bank_weight, banked_layers, split_budget
from tests.sharing.npas_helpers import natural_size, tiny_banked, tiny_cnn1d


def _trainable(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("how", ["type", "random", "single"])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 1.0, 2.0])
def test_trainable_parameter_count_equals_the_budget_exactly(mnist1d_task, how, fraction):
    net = tiny_banked(mnist1d_task, fraction, how)
    budget = int(round(fraction * natural_size(mnist1d_task)))
    assert net.budget == budget
    assert _trainable(net) == budget
    assert sum(net.bank_sizes) + sum(c.numel() for c in net.coefs) + _trainable(net.inner) == budget


def test_an_absolute_budget_is_met_exactly_and_a_too_small_one_is_refused(mnist1d_task):
    inner = tiny_cnn1d(mnist1d_task)
    groups = [0] * len(banked_layers(inner))
    assert _trainable(BankedSupernet(inner, groups, 1234)) == 1234
    with pytest.raises(ConfigError, match="sharing.param_budget"):
        BankedSupernet(tiny_cnn1d(mnist1d_task), groups, 50)


def test_gradients_reach_every_bank_and_every_coefficient(mnist1d_task):
    net = tiny_banked(mnist1d_task, 0.25, "random")
    x, y = mnist1d_task.train.x[:16], mnist1d_task.train.y[:16]
    torch.nn.functional.cross_entropy(net(x), y).backward()
    for p in [*net.banks, *net.coefs]:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_templates_tile_interpolate_or_window_the_bank():
    bank = torch.tensor([0.0, 1.0, 2.0])
    # bank smaller than the layer, tiled: template t reads the bank cyclically from t * B / T
    assert bank_weight(bank, torch.tensor([1.0, 0.0]), 5, "tile").tolist() == [0, 1, 2, 0, 1]
    assert bank_weight(bank, torch.tensor([0.0, 1.0]), 5, "tile").tolist() == [1, 2, 0, 1, 2]
    # interpolated to the layer's size, then rolled by t * n / T
    assert bank_weight(bank, torch.tensor([1.0, 0.0]), 5, "interp").tolist() == [0, 0.5, 1, 1.5, 2]
    assert bank_weight(bank, torch.tensor([0.0, 1.0]), 5, "interp").tolist() == [1, 1.5, 2, 0, 0.5]
    # a bank at least as large as the layer (aligned): windows spread evenly, combined linearly
    big = torch.arange(6.0)
    assert bank_weight(big, torch.tensor([1.0, 1.0, 1.0]), 4, "tile").tolist() == [3, 6, 9, 12]
    # staggered: windows from offset + t * B / T, read cyclically (tiled or interpolated banks alike)
    assert bank_weight(big, torch.tensor([1.0, 1.0, 1.0]), 4, "tile", offset=0).tolist() == [6, 9, 6, 9]
    assert bank_weight(big, torch.tensor([1.0, 0.0, 0.0]), 4, "tile", offset=3).tolist() == [3, 4, 5, 0]
    assert bank_weight(bank, torch.tensor([1.0, 0.0]), 5, "tile", offset=2).tolist() == [2, 0, 1, 2, 0]
    assert bank_weight(bank, torch.tensor([1.0, 0.0]), 5, "interp", offset=1).tolist() == [0.5, 1, 1.5, 2, 0]


@pytest.mark.parametrize("how", ["type", "single"])
def test_at_full_budget_every_layer_owns_its_first_template_and_no_bank_is_tiled(mnist1d_task, how):
    assert {tiny_banked(mnist1d_task, 0.5, how).layer_offset(i) for i in range(3)} == {None}  # aligned under 100%
    net = tiny_banked(mnist1d_task, 2.0, how)
    with torch.no_grad():
        for b in net.banks:  # every bank value distinct: a generated value names the bank value it came from
            b.copy_(torch.arange(b.numel(), dtype=b.dtype))
        for c in net.coefs:
            c.copy_(torch.eye(net.templates)[0])
        for g in set(net.groups):
            members = [i for i, k in enumerate(net.groups) if k == g]
            assert net.bank_sizes[g] >= sum(net.layers[i].numel for i in members)
            firsts = [set(net.layer_weight(i).flatten().tolist()) for i in members]
            assert sum(len(f) for f in firsts) == len(set().union(*firsts))  # first templates are disjoint


def test_banks_are_never_smaller_than_their_largest_layer_when_the_budget_allows(mnist1d_task):
    from nas.sharing.bank_layout import bank_sizes

    assert bank_sizes(100, [50, 30, 20], [10, 10, 15]) == split_budget(100, [50, 30, 20])  # floors met: proportional
    assert bank_sizes(100, [50, 30, 20], [10, 10, 25]) == [47, 28, 25]  # the third group raised to its layer
    assert bank_sizes(20, [50, 30, 20], [10, 10, 25]) == split_budget(20, [50, 30, 20])  # floors do not fit
    inner = tiny_cnn1d(mnist1d_task)
    layers = banked_layers(inner)
    groups = [0] * (len(layers) - 1) + [1]  # the head alone: proportionally its bank would be under its size
    net = BankedSupernet(inner, groups, natural_size(mnist1d_task), 4)
    assert net.bank_sizes[1] == layers[-1].numel and _trainable(net) == net.budget


def test_split_budget_is_exact_proportional_and_refuses_too_little():
    parts = split_budget(1000, [10, 30, 60])
    assert sum(parts) == 1000 and parts[0] < parts[1] < parts[2]
    assert split_budget(3, [5, 5, 5]) == [1, 1, 1]
    with pytest.raises(ConfigError, match="sharing.param_budget"):
        split_budget(2, [1, 1, 1])


def test_a_subnet_slices_the_generated_max_weight(mnist1d_task):
    net = tiny_banked(mnist1d_task, 0.5, "type").eval()
    arch = net.min_arch()
    static = net.export(arch)
    stem = net.layer_weight(0).detach()  # stem.conv: (max_out, in, k_max) -> width 4, kernel 5 (fixed stem)
    assert torch.equal(static.stem.conv.weight, stem[:4])
    x = mnist1d_task.val.x[:8]
    with net.activate(arch), torch.no_grad():
        assert torch.allclose(static(x), net(x), atol=1e-5)


def test_pickled_supernet_gives_the_same_outputs(mnist1d_task):
    net = tiny_banked(mnist1d_task, 0.25, "type").eval()
    x = mnist1d_task.val.x[:8]
    net(x)  # leaves generated weights attached to the autograd graph: pickling must cope
    again = pickle.loads(pickle.dumps(net))
    with torch.no_grad():
        assert torch.equal(again(x), net(x))


def test_params_stored_of_the_max_arch_is_the_budget_and_smaller_subnets_store_less(mnist1d_task):
    net = tiny_banked(mnist1d_task, 0.25, "type")
    assert net.stored_params(net.max_arch()) == net.budget
    small = net.subnet_metrics(net.min_arch())["params_stored"]
    assert small < net.budget
    rng = np.random.default_rng(0)
    for _ in range(3):
        assert net.stored_params(net.space.sample(rng)) <= net.budget


def test_traced_boxes_cover_split_rows_and_reshaped_exports():
    from nas.sharing.bank import BankedLayer
    from nas.sharing.bank_trace import _as_box, select_box

    layer = BankedLayer("m", "weight", (6, 4), "X", 1.0)
    full = torch.arange(24.0).view(6, 4)
    rows = full[[0, 1, 4, 5]][:, :2]  # e.g. q and k rows of a fused projection, first two inputs
    found = _as_box(rows.reshape(4, 2, 1, 1) + 100, [layer], [100])  # exported as a 1x1 conv
    assert found == (0, [[(0, 2), (4, 6)], [(0, 2)]])
    assert torch.equal(select_box(full, found[1]), rows)
    assert _as_box(rows.t().contiguous() + 100, [layer], [100]) is None  # transposed: no box of the max weight


def test_a_searched_budget_uses_the_leading_share_of_every_bank(mnist1d_task, tmp_path):
    from nas.evaluate import EvalConfig
    from nas.export.pipeline import export_arch
    from nas.profiling.measure import LatencyProtocol
    from nas.sharing.bank_budget import BUDGET_LABEL
    from nas.sharing.npas import make_groups

    inner = tiny_cnn1d(mnist1d_task)
    groups = make_groups("type", banked_layers(inner), None, 0)
    net = BankedSupernet(inner, groups, int(0.5 * natural_size(mnist1d_task)), budget_choices=(0.5, 1.0))
    assert net.space.choice(BUDGET_LABEL).options == (0.5, 1.0)
    half = net.space.make(net.max_arch().to_dict() | {BUDGET_LABEL: 0.5})
    assert net.stored_params(net.max_arch()) == net.budget
    saved = sum(b.numel() - (b.numel() + 1) // 2 for b in net.banks)
    assert net.stored_params(half) == net.budget - saved
    net.set_arch(half)
    net(mnist1d_task.train.x[:8]).sum().backward()
    for bank in net.banks:  # only the leading half of each bank is used
        used = (bank.numel() + 1) // 2
        assert bank.grad[used:].abs().sum() == 0 and bank.grad[:used].abs().sum() > 0
    net.eval()
    fast = EvalConfig(calib_batches=1, calib_batch_size=64, latency=LatencyProtocol(warmup=2, repeats=5))
    res = export_arch(net, mnist1d_task, half, tmp_path / "h", formats="pytorch,banked", eval_config=fast)
    assert res.verify["banked"]["max_abs_diff"] <= 1e-5
    assert res.verify["banked"]["stored_params"] == net.stored_params(half)


def test_a_staggered_banked_export_equals_the_supernet_at_every_searched_budget(mnist1d_task, tmp_path):
    from nas.evaluate import EvalConfig
    from nas.export.pipeline import export_arch
    from nas.profiling.measure import LatencyProtocol
    from nas.sharing.bank_budget import BUDGET_LABEL
    from nas.sharing.npas import make_groups

    inner = tiny_cnn1d(mnist1d_task)
    groups = make_groups("type", banked_layers(inner), None, 0)
    net = BankedSupernet(inner, groups, 2 * natural_size(mnist1d_task), budget_choices=(0.5, 1.0)).eval()
    half = net.space.make(net.max_arch().to_dict() | {BUDGET_LABEL: 0.5})
    assert 0 < net.layer_offset(2, 0.5) < net.layer_offset(2, 1.0)  # the second block conv of its group
    fast = EvalConfig(calib_batches=1, calib_batch_size=64, latency=LatencyProtocol(warmup=2, repeats=5))
    for name, arch in (("full", net.max_arch()), ("half", half)):
        res = export_arch(net, mnist1d_task, arch, tmp_path / name, formats="pytorch,banked", eval_config=fast)
        assert res.verify["banked"]["max_abs_diff"] <= 1e-5
