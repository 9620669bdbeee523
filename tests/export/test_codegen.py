"""The source generator: shared trunks and tied weights stay shared, unknown blocks are refused."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_model
from torch import nn

from nas.export import ExportError, generate_source, register_block
from nas.export.codegen import exec_source, sharing_groups


class Trunk(nn.Module):
    """Two convs and a ReLU: the part several heads share."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.body = nn.Sequential(nn.Conv1d(1, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, channels, 3, padding=1))

    def forward(self, x):
        return self.body(x)


class TwoHeads(nn.Module):
    """One trunk, several heads (a multi-task or ensemble export)."""

    def __init__(self, trunk: Trunk, heads: list[nn.Module]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, x):
        z = self.trunk(x).mean(-1)
        return torch.stack([h(z) for h in self.heads], 0)


class Branches(nn.Module):
    """Two branches that both hold the same trunk object (shared by reference, not by copy)."""

    def __init__(self, a: nn.Module, b: nn.Module) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a(x) + self.b(x)


for _cls in (Trunk, TwoHeads, Branches):
    register_block(_cls)


def _roundtrip(module: nn.Module, x: torch.Tensor, tmp_path) -> tuple[str, nn.Module]:
    src = generate_source(module.eval(), "test model")
    built = exec_source(src)["build"]()
    path = tmp_path / "w.safetensors"
    save_model(module, str(path))
    from safetensors.torch import load_model

    load_model(built, str(path))
    with torch.no_grad():
        assert (built.eval()(x) - module(x)).abs().max() <= 1e-6
    return src, built


def test_a_trunk_held_in_two_places_is_built_once_and_stored_once(tmp_path):
    torch.manual_seed(0)
    trunk = Trunk(4)
    net = Branches(nn.Sequential(trunk, nn.Conv1d(4, 2, 1)), nn.Sequential(trunk, nn.Conv1d(4, 2, 1)))
    src, built = _roundtrip(net, torch.randn(3, 1, 8), tmp_path)
    build = src[src.index("def build"):]
    assert build.count("Trunk(channels=4)") == 1  # constructed once into a variable, passed to both places
    assert build.count("a_0 = Trunk(") == 1 and build.count("nn.Sequential(a_0,") == 2
    assert built.a[0] is built.b[0]
    with safe_open(str(tmp_path / "w.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert sum(k.endswith("body.0.weight") for k in keys) == 1  # the shared conv weight stored once


def test_a_trunk_with_several_heads_round_trips(tmp_path):
    torch.manual_seed(1)
    net = TwoHeads(Trunk(4), [nn.Linear(4, 3), nn.Linear(4, 5)][:1] + [nn.Linear(4, 3)])
    src, built = _roundtrip(net, torch.randn(2, 1, 8), tmp_path)
    assert "class Trunk(nn.Module)" in src and "class TwoHeads(nn.Module)" in src
    assert len(built.heads) == 2


def test_tied_weights_are_re_tied_after_construction(tmp_path):
    torch.manual_seed(2)
    enc, dec = nn.Linear(6, 6, bias=False), nn.Linear(6, 6, bias=False)
    dec.weight = enc.weight
    net = nn.Sequential(enc, nn.Tanh(), dec)
    src, built = _roundtrip(net, torch.randn(2, 6), tmp_path)
    assert "_tie(model, '2.weight', '0.weight')" in src
    assert built[0].weight is built[2].weight
    assert sharing_groups(built) == [["0.weight", "2.weight"]]


def test_an_unregistered_block_is_refused_with_its_name():
    class Mystery(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(ExportError, match="Mystery.*register_block"):
        generate_source(nn.Sequential(Mystery()))


def test_a_template_using_names_it_cannot_have_is_refused():
    class UsesNumpy(nn.Module):
        def __init__(self) -> None:
            super().__init__()

        def forward(self, x):
            return np.tanh(x)  # noqa: F821 - the point: `np` is not available in model.py

    register_block(UsesNumpy)
    with pytest.raises(ExportError, match=r"must use only torch, nn, F.*\['np'\]"):
        generate_source(nn.Sequential(UsesNumpy()))
