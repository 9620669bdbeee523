"""The ``ensemble`` sharing mode (``nas search --sharing ensemble``): NEAS ensembles with a searched
shared trunk.

* ``run_spec`` derives ``<space>+ensemble`` (:mod:`nas.sharing.ensemble_space`): dimensions
  ``members`` (K in 1..``sharing.members``), ``split`` (stages shared) and per-member choices
  ``m{i}.<label>``; its space is read from the run's ``ensemble_space.json`` when shrinking wrote
  one, so the search and ``nas resume`` see the shrunk space.
* ``build_supernet`` builds :class:`~nas.sharing.ensemble.EnsembleSupernet` (``sharing.members``
  full-size base copies: the same modules whether or not the space was shrunk).
* ``train`` runs :class:`~nas.sharing.ensemble_train.EnsembleTrainer` (sandwich over ensembles,
  summed member losses, trunk gradient / K) with diversity-guided shrinking when
  ``sharing.shrink`` is set.
* ``plan``: trunk stages as member ``shared`` (source ``slice``, weights of copy 0), each member's
  stages ``m0..m{M-1}``; member 0 draws on the trunk's group (the same weights).

An ensemble is evaluated, timed and exported as one :class:`~nas.sharing.ensemble.StaticEnsemble`
(the trunk once, K heads, logits averaged); ``params`` counts the trunk once.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.catalog import SPACES, SpaceSpec
from nas.errors import ConfigError
from nas.search.loop import derive_seed
from nas.sharing.ensemble import ENSEMBLE_BASES, EnsembleSupernet
from nas.sharing.ensemble_space import SUFFIX, build_ensemble_space, member_values, members_of, split_of
from nas.sharing.ensemble_train import EnsembleTrainer
from nas.sharing.modes import SHARING, SharingContext, SharingMode
from nas.sharing.plan import SharingPlan
from nas.sharing.shrink import ShrinkConfig, Shrinker
from nas.space import Arch, SearchSpace

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.data import Task
    from nas.store import RunStore
    from nas.supernet.base import Supernet

__all__ = ["EnsembleMode", "SPACE_FILE", "ensemble_plan"]

SPACE_FILE = "ensemble_space.json"


class _EnsembleSpace:
    """``build_space`` of the derived spec: the ensemble space, shrunk as stored in the run."""

    def __init__(self, base: str, members: int, stored: Path | None) -> None:
        self.base, self.members, self.stored = base, members, stored

    def __call__(self) -> SearchSpace:
        spec, adapter = SPACES.get(self.base, "space"), ENSEMBLE_BASES.get(self.base, "space")
        options = None
        if self.stored is not None and self.stored.exists():
            options = {k: tuple(v) for k, v in json.loads(self.stored.read_text())["options"].items()}
        return build_ensemble_space(spec.build_space(), adapter.stage_of, adapter.stages, self.members, options)


class _EnsembleShort:
    """Compact form: ``K2 s1 (<member 0> / <member 1>)`` in the base space's short form (no square
    brackets: rich tables would read them as markup)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, arch: Arch) -> str:
        spec, adapter = SPACES.get(self.base, "space"), ENSEMBLE_BASES.get(self.base, "space")
        space = spec.build_space()
        parts = [spec.describe(space.make(member_values(arch, space, adapter.stage_of, i)))
                 for i in range(members_of(arch))]
        return f"K{members_of(arch)} s{split_of(arch)} (" + " / ".join(parts) + ")"


def _base_of(spec: SpaceSpec) -> SpaceSpec:
    if not spec.name.endswith(SUFFIX):
        raise ConfigError(f"`space` must be an ensemble space ending in {SUFFIX!r}, got {spec.name!r}")
    return SPACES.get(spec.name[: -len(SUFFIX)], "space")


def ensemble_plan(net: EnsembleSupernet) -> SharingPlan:
    """The supernet's sharing plan: one node per stage of the trunk and of every member."""
    adapter, s_max = net.adapter, net.adapter.stages
    plan = SharingPlan("ensemble", {"members": net.members, "split_options": list(range(s_max, -1, -1)),
                                    "stages": s_max, "output": "mean of member logits",
                                    "trunk_gradient": "divided by K", "space": net.space.name})
    slots = [f"stage{j}" for j in range(1, s_max + 1)] + ["head"]
    for j, slot in enumerate(slots, start=1):
        counts = [sum(p.numel() for m in adapter.segment_modules(net.nets[i], j) for p in m.parameters())
                  for i in range(net.members)]
        if j <= s_max:
            plan.add_layer("shared", slot, group=f"nets.0.{slot}", source="slice", params=counts[0],
                           shared_when_split_at_least=j)
        for i in range(net.members):
            plan.add_layer(f"m{i}", slot, group=f"nets.{i}.{slot}", source="slice", params=counts[i])
    for j, slot in enumerate(slots[:-1], start=1):
        nxt = slots[j]
        if j < s_max:
            plan.add_flow(("shared", slot), ("shared", nxt))
        for i in range(net.members):
            plan.add_flow(("shared", slot), (f"m{i}", nxt))
            plan.add_flow((f"m{i}", slot), (f"m{i}", nxt))
    return plan


class EnsembleMode(SharingMode):
    """NEAS ensembles: K members share a searched trunk and branch after it."""

    name = "ensemble"
    description = "ensembles of K members sharing their first s stages (K and s searched), diversity-guided shrinking"

    def check(self, spec: SpaceSpec, task_name: str, cfg: SearchConfig) -> None:  # noqa: D102
        if spec.name not in ENSEMBLE_BASES:
            raise ConfigError(f"`sharing.kind` 'ensemble' must run on a space with an ensemble adapter "
                              f"{ENSEMBLE_BASES.names()}, got space {spec.name!r}")
        from nas.data import TASKS

        if getattr(TASKS.get(task_name, "task"), "heads", ()):
            raise ConfigError(f"`task` must have one head for sharing 'ensemble' (members average their logits), "
                              f"got multi-task task {task_name!r}")

    def run_spec(self, spec: SpaceSpec, cfg: SearchConfig, store: RunStore | None) -> SpaceSpec:  # noqa: D102
        stored = store.file(SPACE_FILE) if store is not None else None
        return dataclasses.replace(
            spec, name=spec.name + SUFFIX, build_space=_EnsembleSpace(spec.name, cfg.sharing.members, stored),
            short=_EnsembleShort(spec.name), features=None, default_epochs=spec.default_epochs)

    def build_supernet(self, spec: SpaceSpec, task: Task, cfg: SearchConfig, store: RunStore | None) -> Supernet:  # noqa: D102
        base = _base_of(spec)
        if base.build_supernet is None:
            raise ConfigError(f"`space` {base.name!r} must be trainable to build ensembles, got a table-backed space")
        base_space = base.build_space()
        build = base.build_supernet
        return EnsembleSupernet(spec.build_space(), base_space, ENSEMBLE_BASES.get(base.name, "space"),
                                lambda: build(base_space, task), cfg.sharing.members)

    def train(self, ctx: SharingContext, net: Supernet) -> None:  # noqa: D102
        if not isinstance(net, EnsembleSupernet):
            raise ConfigError(f"`supernet` must be an EnsembleSupernet for sharing 'ensemble', got {type(net).__name__}")
        cfg = ctx.cfg
        shrinker = Shrinker(net.base_space, ShrinkConfig(), derive_seed(ctx.train_seed, 7)) if cfg.sharing.shrink else None
        ctx.stage("train", epochs=cfg.train.epochs, members=net.members, shrink=cfg.sharing.shrink)

        def on_shrink(event: dict[str, Any]) -> None:
            if shrinker is None:
                raise ConfigError("`sharing.shrink` must be true for a shrink event, got false")
            ctx.store.write_json(SPACE_FILE, {"base": net.base_space.name, "members": net.members,
                                              **shrinker.state_dict()})
            ctx.stage("shrink", epoch=event["epoch"], removed=event["removed"])

        trainer = EnsembleTrainer(net, ctx.task, cfg.train, ctx.train_seed, shrinker, on_shrink)
        trainer.fit(ctx.checkpoint, ctx.on_epoch)

    def plan(self, net: Supernet, spec: SpaceSpec, cfg: SearchConfig) -> SharingPlan:  # noqa: D102
        if not isinstance(net, EnsembleSupernet):
            raise ConfigError(f"`supernet` must be an EnsembleSupernet for sharing 'ensemble', got {type(net).__name__}")
        return ensemble_plan(net)


SHARING.add("ensemble", EnsembleMode())
