"""The ``bank`` weight source (NPAS / Shapeshifter Networks, DESIGN §4).

Layers are mapped to parameter groups; each group owns one flat parameter bank. A layer's (max)
weight is generated as a learned combination of ``T`` templates cut from its group's bank::

    W_layer = sum_t alpha_layer[t] * template_t(bank_group)        (reshaped to the layer's shape)

Templates are windows of the bank, laid out in one of two ways (:mod:`nas.sharing.bank_layout`):

* *aligned* (budgets under the natural size): the layers of a group read the same ``T`` windows;
  when the bank holds the layer they are spread evenly over it, when it is smaller ``tile`` reads it
  cyclically from ``t * B / T`` and ``interp`` interpolates it to the layer's size and rolls it by
  ``t * n / T``;
* *staggered* (the budget a subnet uses is at least the natural size): layer ``j`` reads windows
  from ``o_j + t * B / T``, cyclically, where ``o_j`` is its place in the group's bank, so that every
  layer's first template is a slice of the bank that no other layer's first template touches.

Budget rule (:class:`BankedSupernet`): the TOTAL of trainable parameters equals the budget
exactly. Every parameter with two or more dimensions (conv and linear weights, embeddings,
attention projections) is generated from a bank; every other parameter (biases, BatchNorm
affine) stays plain and is paid from the budget, as are the coefficients (``T`` per banked
layer); the banks share what is left, in proportion to the natural size of their groups (largest
remainder, so the sum is exact), none smaller than its group's largest layer where the budget
allows it (:func:`~nas.sharing.bank_layout.bank_sizes`). With ``budget_choices`` a subnet may use
only the leading share of every bank (:mod:`nas.sharing.bank_budget`).

Entangled slicing is unchanged: the supernet's elastic ops slice the generated max weight, which
:class:`BankedSupernet` regenerates at the start of every forward pass (and before export).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import invalid
from nas.sharing.bank_budget import bank_length, check_choices, extend_space, split_arch
from nas.sharing.bank_layout import bank_sizes, layer_offset, layer_positions, split_budget
from nas.space import Arch
from nas.supernet.base import Supernet

__all__ = ["UPSAMPLE", "BankedLayer", "BankedSupernet", "bank_weight", "banked_layers", "split_budget"]

UPSAMPLE = ("tile", "interp")


def bank_weight(bank: torch.Tensor, coefs: torch.Tensor, numel: int, upsample: str,
                offset: int | None = None) -> torch.Tensor:
    """Generates a flat weight of ``numel`` values from ``bank`` with template coefficients ``coefs``.

    Standalone on purpose (only ``torch`` and ``F``): its source is copied into banked exports.

    Args:
        bank: The group's flat parameter bank, shape ``(B,)``.
        coefs: The layer's template coefficients, shape ``(T,)``.
        numel: Number of values of the generated weight.
        upsample: ``tile`` or ``interp``: how a bank smaller than the layer is enlarged.
        offset: ``None``: the aligned layout (the windows every layer of the group reads); else the
            staggered layout, where the layer's first template starts at ``offset`` (``0 <= offset < B``).
    """
    size, count = bank.shape[0], coefs.shape[0]
    pos = torch.arange(numel, device=bank.device)
    if offset is not None and (size >= numel or upsample == "tile"):  # staggered windows, read cyclically
        index = torch.stack([(pos + offset + (t * size) // count) % size for t in range(count)])
        src = bank
    elif size >= numel:  # aligned windows spread evenly over the bank
        span = size - numel
        starts = [(t * span) // max(1, count - 1) for t in range(count)]
        index = torch.stack([pos + s for s in starts])
        src = bank
    elif upsample == "interp":
        src = F.interpolate(bank.view(1, 1, size), size=numel, mode="linear", align_corners=True).view(numel)
        first = (offset or 0) * numel // size
        index = torch.stack([(pos + first + (t * numel) // count) % numel for t in range(count)])
    else:
        index = torch.stack([(pos + (t * size) // count) % size for t in range(count)])
        src = bank
    return coefs @ src[index]


@dataclass(frozen=True)
class BankedLayer:
    """One banked weight: where it lives in the supernet and what it draws on.

    Attributes:
        module: Path of the module owning the weight (e.g. ``blocks.3.conv``).
        param: Name of the weight on that module (``weight``).
        shape: Shape of the max weight.
        kind: The owning module's class name (the ``type`` grouping uses it with the shape).
        init_std: Standard deviation of the module's own initial weight (sets the coefficients' scale).
    """

    module: str
    param: str
    shape: tuple[int, ...]
    kind: str
    init_std: float

    @property
    def numel(self) -> int:
        """Values in the max weight."""
        return int(math.prod(self.shape))


def banked_layers(net: nn.Module) -> list[BankedLayer]:
    """The weights of ``net`` that a bank generates: every parameter with >= 2 dimensions (conv and
    linear weights, embeddings, attention projections)."""
    out = []
    for path, module in net.named_modules():
        for name, p in module._parameters.items():
            if isinstance(p, nn.Parameter) and p.dim() >= 2:
                out.append(BankedLayer(path, name, tuple(p.shape), type(module).__name__, float(p.detach().std())))
    return out


def _rms(stds: list[tuple[float, int]]) -> float:
    """Root mean square of standard deviations weighted by sizes (a shared bank's initial scale)."""
    return math.sqrt(sum(s * s * n for s, n in stds) / sum(n for _, n in stds)) or 1.0


class BankedSupernet(Supernet):
    """A supernet whose conv/linear max weights are generated from per-group parameter banks.

    Args:
        inner: The space's ordinary supernet (its banked weights are removed from it).
        groups: Group index of each banked layer, in :func:`banked_layers` order (``0..G-1``).
        budget: Total trainable parameters (exact).
        templates: Templates per layer (``T``).
        upsample: ``tile`` or ``interp``.
        seed: Seed of the bank and coefficient initialisation (the module owns its generator).
        budget_choices: Budget fractions searched as the ``npas.budget`` dimension (entangled
            banks, :mod:`nas.sharing.bank_budget`); empty: the whole budget for every subnet.

    Raises:
        ConfigError: naming ``sharing.param_budget`` when the budget cannot pay for the plain
            parameters, the coefficients and one bank value per group; or a bad mapping.
    """

    def __init__(self, inner: Supernet, groups: list[int], budget: int, templates: int = 4,
                 upsample: str = "tile", seed: int = 0, budget_choices: Sequence[float] = ()) -> None:
        super().__init__(inner.space)
        self.budget_choices = check_choices(budget_choices)
        if self.budget_choices:
            self.space = extend_space(inner.space, self.budget_choices)
        self.fraction = 1.0
        self._inner_arch = inner.active_arch
        layers = banked_layers(inner)
        if len(groups) != len(layers) or sorted(set(groups)) != list(range(len(set(groups)))):
            raise invalid("sharing.groups", f"map {len(layers)} banked layers onto groups 0..G-1", groups)
        if upsample not in UPSAMPLE:
            raise invalid("sharing.upsample", f"be one of {list(UPSAMPLE)}", upsample)
        if templates < 1:
            raise invalid("sharing.templates", "be at least 1", templates)
        self.natural = sum(p.numel() for p in inner.parameters() if p.requires_grad)
        for layer in layers:
            del inner.get_submodule(layer.module)._parameters[layer.param]
        self.inner, self.layers, self.groups = inner, layers, list(groups)
        self.templates, self.upsample, self.budget = templates, upsample, int(budget)
        plain = sum(p.numel() for p in inner.parameters() if p.requires_grad)
        n_groups = len(set(groups))
        left = self.budget - plain - templates * len(layers)
        if left < n_groups:
            raise invalid("sharing.param_budget", f"be at least {plain + templates * len(layers) + n_groups} parameters "
                          f"({plain} plain, {templates * len(layers)} coefficients, 1 per bank)", self.budget)
        members = [[l.numel for l, g in zip(layers, groups) if g == k] for k in range(n_groups)]
        sizes = bank_sizes(left, [sum(m) for m in members], [max(m) for m in members])
        self._positions = layer_positions([layer.numel for layer in layers], groups)
        # Banks start on the scale of their layers' own initial weights (so that Adam's steps move
        # them as fast as ordinary weights); coefficients then restore each layer's own scale.
        scale = [_rms([(l.init_std, l.numel) for l, g in zip(layers, groups) if g == k]) for k in range(n_groups)]
        gen = torch.Generator().manual_seed(seed)
        self.banks = nn.ParameterList([nn.Parameter(torch.randn(s, generator=gen) * sc) for s, sc in zip(sizes, scale)])
        self.coefs = nn.ParameterList([
            nn.Parameter(torch.randn(templates, generator=gen) * (layer.init_std / scale[g] / math.sqrt(templates)))
            for layer, g in zip(layers, groups)])
        self._materialize()

    @property
    def bank_sizes(self) -> list[int]:
        """Values in each group's bank."""
        return [int(b.numel()) for b in self.banks]

    def fraction_of(self, arch: Arch) -> float:
        """The budget fraction of ``arch`` (1 without a budget dimension)."""
        return split_arch(self.inner.space, arch)[1] if self.budget_choices else 1.0

    def bank(self, g: int, fraction: float | None = None) -> torch.Tensor:
        """Group ``g``'s bank as a subnet with budget ``fraction`` (default: the active one) uses it."""
        full = self.banks[g]
        f = self.fraction if fraction is None else fraction
        return full if f >= 1.0 else full[: bank_length(full.numel(), f)]

    def layer_offset(self, i: int, fraction: float | None = None) -> int | None:
        """Where banked layer ``i`` starts its templates in its group's bank as a subnet with budget
        ``fraction`` (default: the active one) uses it; ``None`` (aligned layout) when the budget it
        uses is under the natural size."""
        f = self.fraction if fraction is None else fraction
        if f * self.budget < self.natural:
            return None
        return layer_offset(self._positions[i], self.bank(self.groups[i], fraction).numel())

    def layer_weight(self, i: int) -> torch.Tensor:
        """The generated max weight of banked layer ``i`` (from the active share of its bank)."""
        layer = self.layers[i]
        flat = bank_weight(self.bank(self.groups[i]), self.coefs[i], layer.numel, self.upsample, self.layer_offset(i))
        return flat.view(layer.shape)

    def _materialize(self) -> None:
        for i, layer in enumerate(self.layers):
            setattr(self.inner.get_submodule(layer.module), layer.param, self.layer_weight(i))

    def coefficients(self) -> torch.Tensor:
        """The layers' template coefficients, shape ``(layers, T)`` (detached)."""
        return torch.stack([c.detach() for c in self.coefs])

    def stored_params(self, arch: Arch) -> int:
        """Parameters a compact (banked) export of ``arch`` stores: the banks and coefficients it
        draws on, plus its plain (not generated) parameters."""
        from nas.sharing.bank_trace import trace_export

        static, generated = trace_export(self, arch)
        used = {i for i, _ in generated.values()}
        plain = sum(p.numel() for n, p in static.named_parameters() if n not in generated)
        fraction = self.fraction_of(arch)
        banks = sum(self.bank(g, fraction).numel() for g in {self.groups[i] for i in used})
        return banks + self.templates * len(used) + plain

    def subnet_metrics(self, arch: Arch) -> dict[str, float]:
        """Metrics the ``npas`` mode adds to every evaluation (read by the evaluator)."""
        return {"params_stored": float(self.stored_params(arch))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        self._materialize()
        return self.inner(x)

    def _set_active(self, arch: Arch) -> None:
        if self.budget_choices:
            arch, self.fraction = split_arch(self.inner.space, arch)
        self.inner.set_arch(arch)
        self._inner_arch = arch

    @contextlib.contextmanager
    def as_parameters(self, tensors: Sequence[torch.Tensor] | None = None) -> Iterator[None]:
        """Puts (detached) generated weights, or ``tensors``, back as ordinary parameters while the
        block runs, so that ops which export by copying their own ``state_dict`` see a plain module."""
        values = tensors if tensors is not None else [self.layer_weight(i).detach() for i in range(len(self.layers))]
        for layer, value in zip(self.layers, values):
            setattr(self.inner.get_submodule(layer.module), layer.param, nn.Parameter(value))
        try:
            yield
        finally:
            for layer in self.layers:
                del self.inner.get_submodule(layer.module)._parameters[layer.param]
            with torch.no_grad():
                self._materialize()

    def _export(self, arch: Arch) -> nn.Module:
        with self.as_parameters():
            return self.inner._export(self._inner_arch)

    def __getstate__(self) -> dict:
        # Generated weights hang off the ops as plain tensors: pickle (Ray workers, deepcopy)
        # needs them detached from the autograd graph.
        with torch.no_grad():
            self._materialize()
        return super().__getstate__()
