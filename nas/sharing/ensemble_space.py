"""The ensemble search space ``<space>+ensemble`` derived from a staged base space (NEAS).

Dimensions, in order::

    members            K in 1..M
    split              s in S..0, only when K >= 2 (options descending: the "largest" ensemble
                       shares nothing, the "smallest" shares every stage)
    <label>            trunk choices: the base label of a stage j <= s (one value for all members)
    m{i}.<label>       member i's choice of a stage j > s, only when K > i

With ``K == 1`` there is no ``split`` and every choice is ``m0.<label>``: a single model of the
base space. A stage owns its labels (``stage_of``); the stem belongs to stage 1, so ``s >= 1``
shares the stem. Conditions compose (:class:`AllOf`), so inactive choices are dropped from the
canonical form and equal ensembles get equal ``arch_id`` values.

Shrinking (:mod:`nas.sharing.shrink`) narrows a base label's options for the trunk and every
member alike: ``options`` maps a base label to the options left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nas.errors import invalid
from nas.space import Arch, Choice, Condition, SearchSpace, Value

__all__ = ["AllOf", "build_ensemble_space", "member_values", "split_of", "members_of", "base_label"]

SUFFIX = "+ensemble"


@dataclass(frozen=True)
class AllOf(Condition):
    """Active when ``values[label] >= at_least``, every ``requires`` holds and no ``unless`` holds."""

    requires: tuple[Condition, ...] = ()
    unless: tuple[Condition, ...] = ()

    def holds(self, values: Mapping[str, Value]) -> bool:  # noqa: D102
        return (super().holds(values) and all(c.holds(values) for c in self.requires)
                and not any(c.holds(values) for c in self.unless))


def _renamed(cond: Condition | None, prefix: str) -> tuple[Condition, ...]:
    return () if cond is None else (Condition(prefix + cond.label, cond.at_least),)


def build_ensemble_space(base: SearchSpace, stage_of: Callable[[str], int], stages: int, members: int,
                         options: Mapping[str, tuple[Value, ...]] | None = None, name: str | None = None) -> SearchSpace:
    """The ensemble space over ``base`` (see the module docstring).

    Args:
        base: The base space (labels owned by stages ``1..stages``).
        stage_of: The stage (``1..stages``) that owns a base label.
        stages: Number of stages a trunk can share.
        members: Largest ensemble size ``M``.
        options: Narrowed options per base label (a shrunk space); others keep the base's.
        name: Name of the space (default: ``<base name>+ensemble``).

    Raises:
        ConfigError: for a bad ``members`` value, a label outside the stages, or narrowed options
            that are not a non-empty subset of the base's.
    """
    if not 1 <= members <= 8:
        raise invalid("sharing.members", "be in [1, 8]", members)
    options = dict(options or {})
    for label, opts in options.items():
        if label not in base.labels or not opts or not set(opts) <= set(base.choice(label).options):
            raise invalid(f"shrunk options of `{label}`", "be a non-empty subset of the base options", opts)
    choices = [Choice("members", tuple(range(1, members + 1)))]
    if members >= 2:
        choices.append(Choice("split", tuple(range(stages, -1, -1)), Condition("members", 2)))
    shared = Condition("members", 2)  # `split` counts only where it is active (K >= 2)
    for c in base.choices:
        j = stage_of(c.label)
        if not 1 <= j <= stages:
            raise invalid(f"stage of `{c.label}`", f"be in [1, {stages}]", j)
        opts = tuple(o for o in c.options if o in options.get(c.label, c.options))
        choices.append(Choice(c.label, opts, AllOf("split", j, requires=(shared, *_renamed(c.when, "")))))
    for i in range(members):
        for c in base.choices:
            opts = tuple(o for o in c.options if o in options.get(c.label, c.options))
            when = AllOf("members", i + 1, requires=_renamed(c.when, f"m{i}."),
                         unless=(AllOf("split", stage_of(c.label), requires=(shared,)),))
            choices.append(Choice(f"m{i}.{c.label}", opts, when))
    return SearchSpace(name or base.name + SUFFIX, choices)


def members_of(arch: Arch) -> int:
    """The ensemble size K of ``arch``."""
    return int(arch["members"])


def split_of(arch: Arch) -> int:
    """The split point s of ``arch`` (0 when K is 1: nothing shared)."""
    return int(arch.get("split", 0) or 0)


def base_label(label: str) -> str:
    """The base label of an ensemble dimension (``m1.s2.width`` -> ``s2.width``)."""
    head, _, rest = label.partition(".")
    if head[:1] == "m" and head[1:].isdigit() and rest:
        return rest
    return label


def member_values(arch: Arch, base: SearchSpace, stage_of: Callable[[str], int], i: int) -> dict[str, Value]:
    """Member ``i``'s full base architecture: trunk choices up to the split, its own after.

    Raises:
        ConfigError: if member ``i`` is not part of the ensemble.
    """
    k, s = members_of(arch), split_of(arch)
    if not 0 <= i < k:
        raise invalid("member", f"be in [0, {k - 1}] for an ensemble of {k}", i)
    values = arch.to_dict()
    out: dict[str, Value] = {}
    for c in base.choices:
        key = c.label if stage_of(c.label) <= s else f"m{i}.{c.label}"
        if key in values:
            out[c.label] = values[key]
    return out
