"""The ``tied`` weight source: exact reuse, a trainable low-rank delta, export, errors."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from nas.errors import ConfigError
from nas.export.codegen import exec_source, generate_source, sharing_groups
from nas.sharing.tied import TiedConv1d, TiedLinear, TiedWeight


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_rank_zero_reuses_the_very_same_tensor_and_its_gradient_reaches_the_target() -> None:
    torch.manual_seed(0)
    target = nn.Conv1d(4, 6, 3, padding=1)
    tied = TiedConv1d(target)
    assert tied.source.materialize() is target.weight
    assert list(tied.parameters()) == []  # nothing of its own: stored once, by the target
    x = torch.randn(2, 4, 10)
    assert torch.equal(tied(x), target(x))
    tied(x).sum().backward()
    assert target.weight.grad is not None and target.weight.grad.abs().sum() > 0


def test_low_rank_delta_starts_at_zero_then_trains_while_the_target_stays() -> None:
    torch.manual_seed(0)
    target = nn.Linear(8, 5)
    tied = TiedLinear(target, rank=2, generator=_gen())
    x, y = torch.randn(32, 8), torch.randn(32, 5)
    assert torch.equal(tied(x), target(x))  # B = 0: the tied layer starts as its target
    assert sum(p.numel() for p in tied.parameters()) == 2 * (8 + 5)
    before = target.weight.detach().clone()
    opt = torch.optim.SGD(tied.parameters(), lr=0.1)  # only the delta's parameters
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((tied(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    delta = tied.source.delta()
    assert delta is not None and torch.linalg.matrix_rank(delta.detach()) == 2
    assert losses[-1] < losses[0]
    assert torch.equal(target.weight, before)
    assert torch.allclose(tied.source.materialize(), target.weight + delta)


def test_export_shares_the_weight_at_rank_zero_and_copies_it_with_a_delta() -> None:
    torch.manual_seed(0)
    target = nn.Linear(6, 6)
    plain = TiedLinear(target).export(shared_with=target)
    assert plain.weight is target.weight and plain.bias is target.bias
    net = nn.Sequential(target, nn.ReLU(), plain)
    assert sharing_groups(net) == [["0.weight", "2.weight"], ["0.bias", "2.bias"]]
    built = exec_source(generate_source(net))["build"]()
    assert built[0].weight is built[2].weight  # model.py re-ties it: stored once
    lora = TiedLinear(target, rank=1, generator=_gen())
    with torch.no_grad():
        lora.source.lora_b.fill_(0.5)
    static = lora.export()
    x = torch.randn(3, 6)
    assert static.weight is not target.weight
    assert torch.allclose(static(x), lora(x), atol=1e-6)


def test_pickling_keeps_the_tie_inside_one_network() -> None:
    target = nn.Linear(4, 4)
    net = nn.ModuleDict({"a": target, "b": TiedLinear(target, rank=1, generator=_gen())})
    again = pickle.loads(pickle.dumps(net))
    assert again["b"].source.target is again["a"]
    assert set(dict(net.state_dict())) == {"a.weight", "a.bias", "b.source.lora_a", "b.source.lora_b"}


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="rank"):
        TiedWeight(nn.Linear(4, 3), rank=4)
    with pytest.raises(ConfigError, match="attr"):
        TiedWeight(nn.Linear(4, 3), attr="nope")
    with pytest.raises(ConfigError, match="target"):
        TiedConv1d(nn.Linear(4, 3))  # type: ignore[arg-type]
