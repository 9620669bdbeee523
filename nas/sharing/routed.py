"""Sub-supernets: a supernet split along layers' options, each architecture routed to its owner.

Design choice (DESIGN §4, GM-NAS): sub-supernets are *separate module copies*, not masks over
one class. Each sub-supernet is a full copy of the base supernet whose ``space`` is a
*restriction* of the full space (some labels keep only a group of their options). A split
replaces sub-supernet ``i`` by two children: child A is ``i`` itself with the first group, child
B a deep copy with the second (appended at the end), so both inherit the parent's weights, and
the trainer copies the optimiser state with them (see :mod:`nas.sharing.gm_train`). Copies cost
memory (K x the base) but keep every sub-supernet an ordinary :class:`Supernet` that the trainer,
BN recalibration and export handle unchanged.

Restrictions always partition the full space (every split divides one sub-supernet's options of
one unconditional label into two groups), so each architecture belongs to exactly one
sub-supernet: :meth:`SubSupernets.route` finds it, and evaluation and export run there.

The structure (a list of restrictions, ``label -> kept options``) is JSON; rebuilding from it
gives the same module tree, so ``load_state_dict`` of a saved split supernet works.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nas.errors import ConfigError, invalid
from nas.space import Arch, Choice, SearchSpace, Value
from nas.supernet.base import Supernet

__all__ = ["Restriction", "restrict", "SubSupernets"]

Restriction = dict[str, list[Value]]


def restrict(space: SearchSpace, restriction: Mapping[str, Sequence[Value]]) -> SearchSpace:
    """``space`` with the options of the restricted labels cut down to the kept ones (same order).

    Raises:
        ConfigError: for an unknown label, a kept option the label lacks, or nothing kept.
    """
    for label, kept in restriction.items():
        if label not in space.labels:
            raise invalid("restriction", f"name labels of space `{space.name}`", label)
        opts = space.choice(label).options
        if not kept or any(v not in opts for v in kept):
            raise invalid(f"restriction[{label!r}]", f"keep a non-empty subset of {list(opts)}", list(kept))
    choices = [Choice(c.label, tuple(o for o in c.options if o in restriction[c.label]), c.when)
               if c.label in restriction else c for c in space.choices]
    return SearchSpace(space.name, choices)


class SubSupernets(Supernet):
    """Sub-supernets of one base supernet, each owning a part of the space.

    Args:
        base: The base supernet (the first sub-supernet; its ``space`` is the full space).
        structure: Restrictions of the sub-supernets (``None``: one sub-supernet, unrestricted);
            sub-supernets after the first are deep copies of ``base``.
    """

    def __init__(self, base: Supernet, structure: Sequence[Mapping[str, Sequence[Value]]] | None = None) -> None:
        super().__init__(base.space)
        full = base.space
        self.structure: list[Restriction] = [{k: list(v) for k, v in r.items()} for r in (structure or [{}])]
        subs = [base] + [copy.deepcopy(base) for _ in self.structure[1:]]
        for sub, r in zip(subs, self.structure):
            sub.space = restrict(full, r)
        self.subs = nn.ModuleList(subs)
        self.history: list[dict[str, Any]] = []  # the splits made, oldest first (JSON records)
        self._current = 0
        self._set_active(self.max_arch())

    @classmethod
    def build(cls, make_base: Callable[[], Supernet],
              structure: Sequence[Mapping[str, Sequence[Value]]] | None) -> SubSupernets:
        """Builds the base with ``make_base`` and the sub-supernets of ``structure`` around it."""
        return cls(make_base(), structure)

    def route(self, arch: Arch) -> int:
        """Index of the sub-supernet that owns ``arch``.

        Raises:
            ConfigError: if no sub-supernet owns it (an invalid architecture).
        """
        for i, r in enumerate(self.structure):
            if all(arch.get(label) in kept for label, kept in r.items()):
                return i
        raise ConfigError(f"`arch` must belong to one sub-supernet of {self.structure}, got {arch.short()}")

    def split(self, index: int, label: str, groups: tuple[Sequence[Value], Sequence[Value]]) -> int:
        """Splits sub-supernet ``index`` along ``label``: it keeps ``groups[0]``, a deep copy (its
        weights and buffers exactly) takes ``groups[1]`` and is appended.

        Returns:
            The index of the new sub-supernet.

        Raises:
            ConfigError: if the groups do not partition the sub-supernet's options of ``label``,
                or ``label`` is conditional (routing needs it present in every architecture).
        """
        if not 0 <= index < len(self.subs):
            raise invalid("index", f"be in [0, {len(self.subs)})", index)
        if self.space.choice(label).when is not None:
            raise invalid("label", "be an unconditional choice (present in every architecture)", label)
        parent: Supernet = self.subs[index]  # type: ignore[assignment]
        opts = list(parent.space.choice(label).options)
        a, b = list(groups[0]), list(groups[1])
        if not a or not b or sorted(map(str, a + b)) != sorted(map(str, opts)) or len(a) + len(b) != len(opts):
            raise invalid("groups", f"partition {opts} into two non-empty groups", [a, b])
        child = copy.deepcopy(parent)
        ra = dict(self.structure[index]) | {label: a}
        rb = dict(self.structure[index]) | {label: b}
        parent.space, child.space = restrict(self.space, ra), restrict(self.space, rb)
        for sub in (parent, child):  # the parent's active subnet may lie outside a child's part
            sub.set_arch(sub.max_arch())
        self.structure[index] = ra
        self.structure.append(rb)
        self.subs.append(child)
        return len(self.subs) - 1

    def _set_active(self, arch: Arch) -> None:
        self._current = self.route(arch)
        self.subs[self._current].set_arch(arch)  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.subs[self._current](x)

    def _export(self, arch: Arch) -> nn.Module:
        return self.subs[self._current].export(arch)  # type: ignore[operator]

    def sub(self, index: int) -> Supernet:
        """Sub-supernet ``index``."""
        return self.subs[index]  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.subs)
