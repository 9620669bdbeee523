"""Elastic ops: active slices share storage, export equals the active op, depth skips blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nas.errors import ConfigError
from nas.supernet import (
    ElasticBatchNorm2d, ElasticConv2d, ElasticDepth, ElasticDepthwiseConv, ElasticLayerNorm, ElasticLinear,
    ElasticSelfAttention, Mixture,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_export(op: nn.Module, x: torch.Tensor) -> nn.Module:
    static = op.export().train(op.training)
    assert type(static).__module__.startswith(("torch.nn", "nas.supernet.static")), type(static)
    with torch.no_grad():
        assert torch.allclose(static(x), op(x), atol=1e-5)
    return static


def test_conv2d_slices_channels_and_centre_of_kernel():
    torch.manual_seed(0)
    conv = ElasticConv2d(8, 12, 7, stride=2)
    conv.set_active(5, 6, 3)
    w = conv.active_weight()
    assert w.shape == (6, 5, 3, 3)
    assert w.untyped_storage().data_ptr() == conv.weight.untyped_storage().data_ptr()
    assert torch.equal(w[0, 0, 1, 1], conv.weight[0, 0, 3, 3])  # centre tap is the centre tap
    x = torch.randn(2, 5, 9, 9, generator=_gen())
    static = _check_export(conv, x)
    assert isinstance(static, nn.Conv2d) and static.stride == (2, 2) and static.padding == (1, 1)


@pytest.mark.parametrize("dims", [1, 2])
def test_depthwise_conv_export_and_groups(dims):
    torch.manual_seed(0)
    op = ElasticDepthwiseConv(10, 7, stride=1, dims=dims)
    op.set_active(6, 5)
    x = torch.randn(2, 6, *([8] * dims), generator=_gen())
    static = _check_export(op, x)
    assert static.groups == 6 and static.kernel_size == (5,) * dims


def test_depthwise_rejects_bad_dims_naming_the_parameter():
    with pytest.raises(ConfigError, match="`dims` must be 1 or 2, got 3"):
        ElasticDepthwiseConv(4, 3, dims=3)


def test_batchnorm2d_slices_affine_and_running_stats():
    bn = ElasticBatchNorm2d(8)
    with torch.no_grad():
        bn.weight.copy_(torch.arange(8.0) + 1)
        bn.running_mean.copy_(torch.arange(8.0))
    bn.set_active(5)
    x = torch.randn(4, 5, 3, 3, generator=_gen())
    bn.train()
    bn(x)  # updates only the first 5 running statistics
    assert bn.running_mean[5:].tolist() == [5.0, 6.0, 7.0]
    bn.eval()
    static = _check_export(bn, x)
    assert torch.equal(static.running_mean, bn.running_mean[:5]) and static.num_features == 5


def test_layernorm_export_equals_active_slice():
    ln = ElasticLayerNorm(16)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5, generator=_gen(1))
        ln.bias.uniform_(-1, 1, generator=_gen(2))
    ln.set_active(10)
    x = torch.randn(3, 4, 10, generator=_gen())
    assert _check_export(ln, x).normalized_shape == (10,)


@pytest.mark.parametrize("embed,heads", [(24, 4), (16, 2), (8, 1)])
def test_attention_export_equals_active_slice(embed, heads):
    torch.manual_seed(0)
    att = ElasticSelfAttention(24, 4, head_dim=6, causal=True)
    att.set_active(embed, heads)
    x = torch.randn(2, 7, embed, generator=_gen())
    static = _check_export(att, x)
    assert static.qkv.weight.shape == (3 * heads * 6, embed) and static.proj.weight.shape == (embed, heads * 6)


def test_attention_is_causal():
    torch.manual_seed(0)
    att = ElasticSelfAttention(8, 2, head_dim=4, causal=True)
    x = torch.randn(1, 5, 8, generator=_gen())
    y = torch.randn(1, 5, 8, generator=_gen(1))
    x2 = torch.cat([x[:, :3], y[:, 3:]], dim=1)  # same prefix, different future
    with torch.no_grad():
        assert torch.allclose(att(x)[:, :3], att(x2)[:, :3], atol=1e-6)
        assert not torch.allclose(att(x)[:, 3:], att(x2)[:, 3:])


def test_linear_export_keeps_old_api():
    lin = ElasticLinear(10, 6)
    lin.set_active(7, 4)
    _check_export(lin, torch.randn(3, 7, generator=_gen()))


class _Affine(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        return x * self.scale + 1.0

    def export(self):
        return self


def test_depth_runs_leading_blocks_and_mixes_depth_outputs():
    stage = ElasticDepth([_Affine(2.0), _Affine(3.0), _Affine(5.0)], min_depth=1)
    x = torch.ones(2)
    stage.set_active(2)
    assert torch.allclose(stage(x), torch.full((2,), 10.0))  # (1*2+1)*3+1
    assert len(stage.export()) == 2
    w = torch.tensor([0.2, 0.3, 0.5])
    stage.set_active(Mixture((1, 2, 3), w))
    explicit = 0.2 * 3.0 + 0.3 * 10.0 + 0.5 * 51.0
    assert torch.allclose(stage(x), torch.full((2,), explicit))
    with pytest.raises(ConfigError, match="`depth` must be in"):
        stage.set_active(4)


def test_permute_channels_reorders_leading_entries_and_rejects_non_permutations():
    from nas.supernet.importance import channel_importance, permute_channels

    w = torch.arange(12.0).view(4, 3)
    permute_channels(torch.tensor([2, 0, 1]), [(w, 0)])
    assert w[:, 0].tolist() == [6.0, 0.0, 3.0, 9.0]
    assert channel_importance(torch.tensor([[1.0, -2.0], [3.0, 0.0]]), 1).tolist() == [4.0, 2.0]
    with pytest.raises(ConfigError, match="`perm` must be a permutation"):
        permute_channels(torch.tensor([0, 0]), [(w, 0)])
