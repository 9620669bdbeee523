"""Tracing which part of which banked max weight each weight of an exported subnet is.

A subnet's exported (static) module holds slices, crops and reshapes of the supernet's max
weights. :func:`trace_export` finds them without knowing the space: it exports once with every
banked max weight replaced by its element indices, then reads each exported weight back as a box
of one layer's max weight. The boxes are what :meth:`BankedSupernet.stored_params` counts and
what a compact ``banked`` export (:mod:`nas.export.banked`) stores instead of the weights.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from nas.errors import invalid
from nas.space import Arch

if TYPE_CHECKING:
    from nas.sharing.bank import BankedLayer, BankedSupernet

__all__ = ["Runs", "trace_export", "select_box"]

Runs = list[tuple[int, int]]


def trace_export(net: BankedSupernet, arch: Arch) -> tuple[nn.Module, dict[str, tuple[int, list[Runs]]]]:
    """Which part of which banked max weight each weight of ``arch``'s exported module is.

    Exports ``arch`` once with every banked max weight replaced by its element indices (offset per
    layer), then reads each exported weight back as a box of one layer's max weight: per dimension,
    the kept indices as ``(start, stop)`` runs (one run for a leading slice or a centred crop,
    several for, e.g., the q/k/v rows of a fused projection), possibly reshaped (a linear weight
    exported as a 1x1 convolution). Exported weights that are no such box are left out (a banked
    export stores them plainly).

    Returns:
        The traced static module (its values are indices, not weights) and, per exported
        parameter name that a bank generates, ``(layer index, runs per dimension)``.

    Raises:
        ConfigError: when the banked layers hold too many values to be traced exactly in float32.
    """
    starts, total = [], 0
    for layer in net.layers:
        starts.append(total)
        total += layer.numel
    if total >= 2**24:
        raise invalid("supernet", "hold under 2**24 banked weight values to trace its exports", total)
    index = [torch.arange(s, s + layer.numel, dtype=torch.float32).view(layer.shape) for layer, s in zip(net.layers, starts)]
    with torch.no_grad(), net.as_parameters(index), net.activate(arch):
        static = net.inner._export(net._inner_arch)
    found: dict[str, tuple[int, list[Runs]]] = {}
    for name, p in static.named_parameters():
        box = _as_box(p.detach(), net.layers, starts) if p.dim() >= 2 else None
        if box is not None:
            found[name] = box
    return static, found


def select_box(full: torch.Tensor, runs: list[Runs]) -> torch.Tensor:
    """The box of ``full`` kept by ``runs`` (per dimension, ``(start, stop)`` runs of indices)."""
    for d, dim_runs in enumerate(runs):
        full = full.index_select(d, torch.cat([torch.arange(a, b) for a, b in dim_runs]))
    return full


def _runs(idx: torch.Tensor) -> Runs:
    out: Runs = []
    for v in idx.tolist():
        if out and out[-1][1] == v:
            out[-1] = (out[-1][0], v + 1)
        else:
            out.append((v, v + 1))
    return out


def _as_box(values: torch.Tensor, layers: list[BankedLayer], starts: list[int]) -> tuple[int, list[Runs]] | None:
    lo = float(values.min())
    i = max((k for k, s in enumerate(starts) if s <= lo), default=None)
    if i is None:
        return None
    local = values.double() - starts[i]
    if not torch.equal(local, local.round()) or float(local.max()) >= layers[i].numel:
        return None
    shape = layers[i].shape
    coords = torch.unravel_index(local.long().flatten(), shape)
    dims = [torch.unique(c) for c in coords]
    if math.prod(len(d) for d in dims) != local.numel():
        return None
    runs = [_runs(d) for d in dims]
    box = select_box(torch.arange(layers[i].numel, dtype=torch.float64).view(shape), runs)
    if not torch.equal(box.flatten(), local.flatten()):
        return None
    return i, runs
