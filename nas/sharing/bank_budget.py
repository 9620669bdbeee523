"""The parameter budget as a search dimension: entangled banks (``sharing.budget_choices``).

With ``sharing.budget_choices: [0.25, 0.5, 1.0]`` the searched space gains one dimension,
``npas.budget``: a subnet with fraction ``f`` generates its weights from the leading
``ceil(f * B)`` values of every bank (of size ``B``), so smaller budgets are nested inside larger
ones the way narrower widths are nested inside wider ones. Training samples the dimension like
any other (sandwich rule: the largest subnet uses whole banks, the smallest the smallest share),
and ``params_stored`` (what a banked export of the subnet stores) becomes a searchable objective,
e.g. ``--objectives accuracy:max,params_stored:min``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

from nas.catalog import SpaceSpec
from nas.errors import invalid
from nas.space import Arch, Choice, SearchSpace

__all__ = ["BUDGET_LABEL", "check_choices", "extend_space", "split_arch", "bank_length", "budget_spec"]

BUDGET_LABEL = "npas.budget"


def check_choices(choices: Sequence[float]) -> tuple[float, ...]:
    """Validates budget fractions: ascending, distinct, in (0, 1], the last one 1.

    Raises:
        ConfigError: naming ``sharing.budget_choices``.
    """
    values = tuple(float(c) for c in choices)
    if not values:
        return values
    if list(values) != sorted(set(values)) or values[0] <= 0 or values[-1] != 1.0:
        raise invalid("sharing.budget_choices", "be distinct ascending fractions in (0, 1] ending with 1", list(choices))
    return values


def extend_space(space: SearchSpace, choices: Sequence[float]) -> SearchSpace:
    """``space`` with the ``npas.budget`` dimension appended (named ``<space>+npas``)."""
    if BUDGET_LABEL in space.labels:
        raise invalid("space", f"not already have a `{BUDGET_LABEL}` dimension", space.name)
    return SearchSpace(f"{space.name}+npas", [*space.choices, Choice(BUDGET_LABEL, check_choices(choices))])


def split_arch(inner: SearchSpace, arch: Arch) -> tuple[Arch, float]:
    """The architecture of the ordinary space and the budget fraction of an extended ``arch``."""
    values = arch.to_dict()
    fraction = float(values.pop(BUDGET_LABEL, 1.0))  # type: ignore[arg-type]
    return inner.make(values), fraction


def bank_length(size: int, fraction: float) -> int:
    """Values of a bank of ``size`` that a subnet with budget ``fraction`` uses (at least one)."""
    return max(1, min(size, math.ceil(fraction * size - 1e-9)))


def _build_extended(build_space: Callable[[], SearchSpace], choices: tuple[float, ...]) -> SearchSpace:
    return extend_space(build_space(), choices)


def _short(short: Callable[[Arch], str] | None, inner: Callable[[], SearchSpace], arch: Arch) -> str:
    base, fraction = split_arch(inner(), arch)
    text = short(base) if short is not None else base.short()
    return f"{text} b{fraction:g}"


def budget_spec(spec: SpaceSpec, choices: Sequence[float]) -> SpaceSpec:
    """The searched spec: the space with ``npas.budget``, its own name (plain one-hot encoding)."""
    values = check_choices(choices)
    return dataclasses.replace(spec, name=f"{spec.name}+npas", features=None,
                               build_space=functools.partial(_build_extended, spec.build_space, values),
                               short=functools.partial(_short, spec.short, spec.build_space))
