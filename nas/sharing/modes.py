"""Sharing modes: how a run's supernet shares parameters, plugged into training, loading and search.

A :class:`SharingMode` is registered in :data:`SHARING` under the name ``--sharing`` takes
(``none``, ``npas``, ``ensemble``, ``branching``, ``gm-split``). The runner drives every mode
through the same steps, so a mode only overrides what it changes::

    mode.check(spec, task_name, cfg)           # before the run folder exists
    mode.learn(ctx)                            # learned pre-phase (groups, tree); writes artefacts
    run_spec = mode.run_spec(spec, cfg, store) # the space actually searched (may add dimensions)
    net = mode.build_supernet(run_spec, task, cfg, store)
    mode.train(ctx, net)                       # the trainer with the mode's phases
    mode.plan(net, run_spec, cfg).save(...)    # sharing_plan.json

``load`` repeats ``run_spec`` and ``build_supernet`` from the stored artefacts, so export,
evaluation and the dashboard see the same network the search saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from nas.catalog import SpaceSpec
from nas.errors import ConfigError
from nas.registry import Registry
from nas.sharing.plan import SharingPlan

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.data import Task
    from nas.store import RunStore
    from nas.supernet.base import Supernet
    from nas.train import EpochStats

__all__ = ["SharingContext", "SharingMode", "NoSharing", "SHARING", "plan_from_supernet"]


@dataclass
class SharingContext:
    """What a mode's training phases get from the runner.

    Attributes:
        store: The run folder (artefacts, checkpoints, events).
        spec: The registered (base) space.
        task: The loaded task.
        cfg: The run config (``cfg.sharing`` holds the mode's settings).
        train_seed: Seed of the training generators.
        init_seed: Seed of weight initialisation.
        on_epoch: Progress callback of each training epoch.
        on_stage: Progress callback of each stage (``(name, info)``).
    """

    store: RunStore
    spec: SpaceSpec
    task: Task
    cfg: SearchConfig
    train_seed: int
    init_seed: int
    on_epoch: Callable[[EpochStats], None] | None = None
    on_stage: Callable[[str, dict[str, Any]], None] | None = None

    def stage(self, name: str, **info: Any) -> None:
        """Reports a stage to the progress display and the run's event log."""
        self.store.event("stage", stage=name, **info)
        if self.on_stage is not None:
            self.on_stage(name, info)

    @property
    def checkpoint(self) -> Path:
        """The training checkpoint of the current phase (removed when training ends)."""
        return self.store.file("train_state.safetensors")


class SharingMode:
    """The default behaviour (no sharing beyond weight entanglement); modes subclass it.

    Attributes:
        name: ``--sharing`` value.
        description: One line for ``--help``.
        extra_metrics: Metrics the mode adds to every evaluation (usable as objectives).
    """

    name = "none"
    description = "weight entanglement only: subnets slice one set of weights"
    extra_metrics: tuple[str, ...] = ()

    def tasks(self, spec: SpaceSpec) -> tuple[str, ...]:
        """Names of the tasks the mode can run ``spec`` on (default: the space's own tasks)."""
        return spec.tasks

    def check(self, spec: SpaceSpec, task_name: str, cfg: SearchConfig) -> None:
        """Raises :class:`ConfigError` when the mode cannot run on this space/task/config."""

    def learn(self, ctx: SharingContext) -> None:
        """Learned pre-phase before the searched supernet exists (idempotent; default: none)."""

    def run_spec(self, spec: SpaceSpec, cfg: SearchConfig, store: RunStore | None) -> SpaceSpec:
        """The spec of the space actually searched (default: the registered one)."""
        return spec

    def build_supernet(self, spec: SpaceSpec, task: Task, cfg: SearchConfig, store: RunStore | None) -> Supernet:
        """Builds the (untrained) supernet of ``spec`` (``store``: artefacts of learned phases)."""
        if spec.build_supernet is None:
            raise ConfigError(f"`space` {spec.name!r} must be trainable to share weights, got a table-backed space")
        return spec.build_supernet(spec.build_space(), task)

    def train(self, ctx: SharingContext, net: Supernet) -> None:
        """Trains ``net`` (default: the sandwich-rule :class:`~nas.train.Trainer`), resuming from
        ``ctx.checkpoint`` when it exists."""
        from nas.train import Trainer

        ctx.stage("train", epochs=ctx.cfg.train.epochs)
        trainer = Trainer(net, ctx.task, ctx.cfg.train, ctx.train_seed)
        trainer.fit(ctx.checkpoint, ctx.on_epoch)

    def plan(self, net: Supernet, spec: SpaceSpec, cfg: SearchConfig) -> SharingPlan:
        """The plan of the trained supernet (default: one group per layer, sliced)."""
        return plan_from_supernet(net, self.name)


def plan_from_supernet(net: nn.Module, kind: str = "none", member: str = "shared") -> SharingPlan:
    """A plan with one node per parameterised layer of ``net`` in module order, chained.

    Elastic layers (those with ``set_active`` or an ``Elastic`` class name) get source ``slice``,
    the rest ``static``; each layer is its own group.
    """
    plan = SharingPlan(kind)
    nodes = []
    for name, module in net.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if not name or own == 0:
            continue
        elastic = type(module).__name__.startswith("Elastic") or hasattr(module, "set_active")
        nodes.append(plan.add_layer(member, name, group=name, source="slice" if elastic else "static",
                                    params=int(own), op=type(module).__name__))
    plan.chain(nodes)
    return plan


SHARING: Registry[SharingMode] = Registry("sharing")
SHARING.add("none", NoSharing := SharingMode())
