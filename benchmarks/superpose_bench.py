"""Superposition cost and exactness: one superposed call against the explicit mixture.

For each elastic op (2-D conv over channels x kernel, linear over in x out, self-attention over
heads, self-attention over heads x embedding) the harness draws random architecture weights and
times forward + backward of (a) the superposed op (one call at the max size), (b) the explicit
mixture ``sum_o w_o * zero_pad(op_o(x))`` (one call per option combination) and (c) the plain
max-size op. Timings are interleaved per repetition, 1 thread, medians over ``repeats`` after
``warmup`` discarded calls; the result also records the largest difference between (a) and (b).
"""

from __future__ import annotations

import itertools
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["run"]


def _weights(n: int, gen: torch.Generator) -> torch.Tensor:
    e = -torch.rand(n, generator=gen).log()
    return (e / e.sum()).requires_grad_(True)


def _pad(t: torch.Tensor, size: int, axis: int) -> torch.Tensor:
    return F.pad(t, [0, 0] * (t.dim() - 1 - axis) + [0, size - t.shape[axis]])


def _cases(gen: torch.Generator) -> dict[str, tuple[Callable, Callable, Callable]]:
    from nas.supernet import ElasticConv2d, ElasticLinear, ElasticSelfAttention, Mixture

    torch.manual_seed(0)
    conv, lin = ElasticConv2d(32, 64, 7), ElasticLinear(256, 256)
    att = ElasticSelfAttention(64, 4, 16, causal=True)
    xc, xl, xa = (torch.randn(8, 32, 16, 16, generator=gen), torch.randn(64, 256, generator=gen),
                  torch.randn(8, 64, 64, generator=gen))
    outs, ks, ins, heads, embeds = (16, 32, 64), (3, 5, 7), (64, 128, 256), (1, 2, 4), (32, 48, 64)
    wo, wk, wi, wh, we = (_weights(3, gen) for _ in range(5))

    def conv_sup():
        conv.set_active(32, Mixture(outs, wo), Mixture(ks, wk))
        return conv(xc)

    def conv_mix():
        total = 0
        for (o, a), (k, b) in itertools.product(zip(outs, wo), zip(ks, wk)):
            conv.set_active(32, o, k)
            total = total + a * b * _pad(conv(xc), 64, 1)
        return total

    def lin_sup():
        lin.set_active(Mixture(ins, wi), Mixture(ins, wo))
        return lin(xl)

    def lin_mix():
        total = 0
        for (i, a), (o, b) in itertools.product(zip(ins, wi), zip(ins, wo)):
            lin.set_active(i, o)
            total = total + a * b * _pad(lin(xl[:, :i]), 256, 1)
        return total

    def att_sup(embed: bool) -> Callable:
        def f():
            att.set_active(Mixture(embeds, we) if embed else 64, Mixture(heads, wh))
            return att(xa)
        return f

    def att_mix(embed: bool) -> Callable:
        def f():
            total = 0
            for (e, a), (h, b) in itertools.product(zip(embeds, we) if embed else [(64, 1.0)], zip(heads, wh)):
                att.set_active(e, h)
                total = total + a * b * _pad(att(xa[..., :e]), 64, 2)
            return total
        return f

    def plain(op: Any, args: tuple, x: torch.Tensor) -> Callable:
        def f():
            op.set_active(*args)
            return op(x)
        return f

    return {
        "conv2d_out_x_kernel": (conv_sup, conv_mix, plain(conv, (32, 64, 7), xc)),
        "linear_in_x_out": (lin_sup, lin_mix, plain(lin, (256, 256), xl)),
        "attention_heads": (att_sup(False), att_mix(False), plain(att, (64, 4), xa)),
        "attention_heads_x_embed": (att_sup(True), att_mix(True), plain(att, (64, 4), xa)),
    }


def _fwd_bwd(fn: Callable) -> float:
    t0 = time.perf_counter()
    fn().square().mean().backward()
    return time.perf_counter() - t0


def run(repeats: int = 50, warmup: int = 5, seed: int = 0, out: str | None = None) -> dict[str, Any]:
    """Times superposed vs explicit-mixture vs plain max-size ops (forward + backward).

    Args:
        repeats: Timed repetitions per variant (interleaved).
        warmup: Discarded repetitions before timing.
        seed: Seed of inputs and architecture weights.
        out: JSON file to write.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(seed)
        results: dict[str, Any] = {}
        for name, (sup, mix, plain) in _cases(gen).items():
            with torch.no_grad():
                err = float((sup() - mix()).abs().max())
            times = np.zeros((repeats, 3))
            for r in range(warmup + repeats):
                row = [_fwd_bwd(f) for f in (sup, mix, plain)]
                if r >= warmup:
                    times[r - warmup] = row
            med = np.median(times, axis=0) * 1e3
            results[name] = {"superposed_ms": float(med[0]), "explicit_mixture_ms": float(med[1]),
                             "plain_max_ms": float(med[2]), "speedup_vs_mixture": float(med[1] / med[0]),
                             "overhead_vs_plain": float(med[0] / med[2]), "max_abs_diff": err}
    finally:
        torch.set_num_threads(threads)
    payload = {"benchmark": "superpose", "repeats": repeats, "warmup": warmup, "threads": 1, "seed": seed,
               "machine": platform.machine(), "torch": torch.__version__, "ops": results}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(payload, indent=2))
    return payload
