"""Superposition equals the explicit mixture ``sum_o w_o * zero_pad(op_o(x))`` to 1e-5."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from nas.supernet import (
    ElasticBatchNorm2d, ElasticConv2d, ElasticDepthwiseConv, ElasticLayerNorm, ElasticLinear, ElasticSelfAttention,
    Mixture, centre_mask, prefix_mask, superpose,
)
from nas.supernet.conv2d import centre_crop2d


def _weights(n: int, seed: int) -> torch.Tensor:
    """Random simplex weights (a flat Dirichlet draw: normalised exponentials)."""
    e = -torch.rand(n, generator=torch.Generator().manual_seed(seed)).log()
    return e / e.sum()


def _pad_to(t: torch.Tensor, size: int, axis: int) -> torch.Tensor:
    pad = [0, 0] * (t.dim() - 1 - axis % t.dim()) + [0, size - t.shape[axis]]
    return F.pad(t, pad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_equal_the_literal_sum_of_zero_padded_slices(seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(8, 6, 7, 7, generator=g)
    outs, ks = (3, 5, 8), (3, 5, 7)
    wo, wk = _weights(3, seed), _weights(3, seed + 10)
    slices = [lambda t, c=c, k=k: centre_crop2d(t[:c], k) for c, k in itertools.product(outs, ks)]
    joint = torch.outer(wo, wk).flatten()
    literal = superpose(W, slices, joint, centred=[False, False, True, True])
    masked = W * prefix_mask(Mixture(outs, wo), 8)[:, None, None, None] * centre_mask(Mixture(ks, wk), 7, 2)
    assert torch.allclose(literal, masked, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv2d_channels_and_kernel(seed):
    torch.manual_seed(seed)
    conv = ElasticConv2d(6, 10, 7, stride=2)
    x = torch.randn(2, 6, 11, 11)
    ins, outs, ks = (2, 4, 6), (4, 7, 10), (3, 5, 7)
    wi, wo, wk = _weights(3, seed), _weights(3, seed + 1), _weights(3, seed + 2)
    conv.set_active(Mixture(ins, wi), Mixture(outs, wo), Mixture(ks, wk))
    got = conv(x)
    explicit = torch.zeros_like(got)
    for (i, a), (o, b), (k, c) in itertools.product(zip(ins, wi), zip(outs, wo), zip(ks, wk)):
        conv.set_active(i, o, k)
        explicit += a * b * c * _pad_to(conv(x[:, :i]), 10, 1)
    assert torch.allclose(got, explicit, atol=1e-5)


@pytest.mark.parametrize("dims", [1, 2])
def test_depthwise_channels_and_kernel(dims):
    torch.manual_seed(dims)
    op = ElasticDepthwiseConv(8, 7, stride=1, dims=dims)
    x = torch.randn(2, 8, *([9] * dims))
    chs, ks = (4, 6, 8), (3, 5, 7)
    wc, wk = _weights(3, 4), _weights(3, 5)
    op.set_active(Mixture(chs, wc), Mixture(ks, wk))
    got = op(x)
    explicit = torch.zeros_like(got)
    for (c, a), (k, b) in itertools.product(zip(chs, wc), zip(ks, wk)):
        op.set_active(c, k)
        explicit += a * b * _pad_to(op(x[:, :c]), 8, 1)
    assert torch.allclose(got, explicit, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_in_and_out(seed):
    torch.manual_seed(seed)
    lin = ElasticLinear(12, 9)
    x = torch.randn(5, 12)
    ins, outs = (4, 8, 12), (3, 9)
    wi, wo = _weights(3, seed), _weights(2, seed + 3)
    lin.set_active(Mixture(ins, wi), Mixture(outs, wo))
    got = lin(x)
    explicit = torch.zeros_like(got)
    for (i, a), (o, b) in itertools.product(zip(ins, wi), zip(outs, wo)):
        lin.set_active(i, o)
        explicit += a * b * _pad_to(lin(x[:, :i]), 9, 1)
    assert torch.allclose(got, explicit, atol=1e-5)


@pytest.mark.parametrize("mix_embed,mix_heads", [(False, True), (True, False), (True, True)])
def test_attention_heads_and_embedding(mix_embed, mix_heads):
    torch.manual_seed(3)
    att = ElasticSelfAttention(24, 4, head_dim=5, causal=True)
    x = torch.randn(2, 6, 24)
    embeds, heads = ((8, 16, 24), (1, 2, 4))
    we, wh = _weights(3, 7), _weights(3, 8)
    e_opts = list(zip(embeds, we)) if mix_embed else [(24, torch.tensor(1.0))]
    h_opts = list(zip(heads, wh)) if mix_heads else [(4, torch.tensor(1.0))]
    att.set_active(Mixture(embeds, we) if mix_embed else 24, Mixture(heads, wh) if mix_heads else 4)
    got = att(x)
    explicit = torch.zeros_like(got)
    for (e, a), (h, b) in itertools.product(e_opts, h_opts):
        att.set_active(e, h)
        explicit += a * b * _pad_to(att(x[..., :e]), 24, 2)
    assert torch.allclose(got, explicit, atol=1e-5)


def test_attention_superposed_heads_are_one_call_at_max_size():
    att = ElasticSelfAttention(16, 4, head_dim=4)
    calls: list[tuple[int, ...]] = []
    orig = F.scaled_dot_product_attention
    try:
        F.scaled_dot_product_attention = lambda q, *a, **k: calls.append(tuple(q.shape)) or orig(q, *a, **k)
        att.set_active(16, Mixture((1, 2, 4), _weights(3, 0)))
        att(torch.randn(2, 5, 16))
    finally:
        F.scaled_dot_product_attention = orig
    assert calls == [(2, 4, 5, 4)]


def test_norms_over_channel_and_feature_mixtures():
    bn, ln = ElasticBatchNorm2d(6).train(), ElasticLayerNorm(10)
    with torch.no_grad():
        for p in (*bn.parameters(), *ln.parameters()):
            p.uniform_(0.5, 1.5)
    x, z = torch.randn(4, 6, 3, 3), torch.randn(3, 10)
    wc, wf = _weights(3, 1), _weights(3, 2)
    bn.set_active(Mixture((2, 4, 6), wc))
    ln.set_active(Mixture((4, 7, 10), wf))
    got_bn, got_ln = bn(x), ln(z)
    exp_bn, exp_ln = torch.zeros_like(got_bn), torch.zeros_like(got_ln)
    for (c, a), (f, b) in zip(zip((2, 4, 6), wc), zip((4, 7, 10), wf)):
        bn.set_active(c)
        ln.set_active(f)
        exp_bn += a * _pad_to(bn(x[:, :c]), 6, 1)
        exp_ln += b * _pad_to(ln(z[:, :f]), 10, 1)
    assert torch.allclose(got_bn, exp_bn, atol=1e-5) and torch.allclose(got_ln, exp_ln, atol=1e-5)


def test_gradient_reaches_architecture_weights():
    conv = ElasticConv2d(3, 4, 5)
    alpha = torch.zeros(2, requires_grad=True)
    conv.set_active(3, 4, Mixture((3, 5), alpha.softmax(0)))
    conv(torch.randn(1, 3, 6, 6)).square().sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_conv1d_and_batchnorm1d_channels_and_kernel():
    from nas.supernet import ElasticBatchNorm1d, ElasticConv1d

    torch.manual_seed(5)
    conv, bn = ElasticConv1d(6, 8, 7, stride=2), ElasticBatchNorm1d(8).train()
    x = torch.randn(3, 6, 20)
    ins, outs, ks = (3, 6), (4, 8), (3, 5, 7)
    wi, wo, wk = _weights(2, 11), _weights(2, 12), _weights(3, 13)
    conv.set_active(Mixture(ins, wi), Mixture(outs, wo), Mixture(ks, wk))
    bn.set_active(Mixture(outs, wo))
    got, got_bn = conv(x), bn(x[:, :8].repeat(1, 2, 1)[:, :8])
    explicit, exp_bn = torch.zeros_like(got), torch.zeros_like(got_bn)
    for (i, a), (o, b), (k, c) in itertools.product(zip(ins, wi), zip(outs, wo), zip(ks, wk)):
        conv.set_active(i, o, k)
        explicit += a * b * c * _pad_to(conv(x[:, :i]), 8, 1)
    for o, b in zip(outs, wo):
        bn.set_active(o)
        exp_bn += b * _pad_to(bn(x[:, :8].repeat(1, 2, 1)[:, :o]), 8, 1)
    assert torch.allclose(got, explicit, atol=1e-5) and torch.allclose(got_bn, exp_bn, atol=1e-5)
