"""The ``gm-split`` sharing mode: gradient-matching splits of the supernet (GM-NAS).

``nas search --sharing gm-split`` trains a :class:`~nas.sharing.routed.SubSupernets` with
:class:`~nas.sharing.gm_train.GMTrainer`: plain sandwich-rule training until the scheduled split
epochs (``sharing.split_epochs``, default half-way), where every sub-supernet is split along the
layer whose choices' gradients disagree most, ``sharing.split_rounds`` times (2 rounds: 4
sub-supernets, up to ``sharing.max_subnets``; ``sharing.split_labels`` restricts the candidates;
on ``cnn1d`` e.g. ``s2.b1.kernel`` or ``s1.width``, on ``cell1d`` the edges). The searched space
is unchanged: each architecture is evaluated (and exported) in the sub-supernet that owns its
choices, on validation data, so the final choice among sub-supernets uses validation data only
(the test split is only reported).

Artefacts: ``gm_splits.json`` in the run folder holds the structure (each sub-supernet's kept
options) and the split history (epoch, layer, groups, cut score, similarity matrix);
``build_supernet`` rebuilds the same sub-supernets from it, so loading, export and resume see the
network that was trained. The sharing plan has one member per sub-supernet (``sub0``, ``sub1``,
...) behind a ``routed`` router node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nas.catalog import SpaceSpec
from nas.errors import ConfigError, invalid
from nas.sharing.gm_split import split_schedule
from nas.sharing.gm_train import GMSettings, GMTrainer
from nas.sharing.modes import SHARING, SharingContext, SharingMode
from nas.sharing.plan import SharingPlan
from nas.sharing.routed import SubSupernets
from nas.space import SearchSpace

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.data import Task
    from nas.store import RunStore
    from nas.supernet.base import Supernet

__all__ = ["GMSplitMode", "SPLITS_FILE", "candidate_labels", "settings_of"]

SPLITS_FILE = "gm_splits.json"


def candidate_labels(space: SearchSpace, requested: Sequence[str] = ()) -> tuple[str, ...]:
    """Labels a split may use: unconditional choices with at least 2 options (or ``requested``).

    Raises:
        ConfigError: if a requested label is unknown, conditional or has one option, or none is left.
    """
    ok = tuple(c.label for c in space.choices if c.when is None and len(c.options) >= 2)
    for label in requested:
        if label not in ok:
            raise invalid("sharing.split_labels", f"name unconditional choices of `{space.name}` with 2+ options "
                          f"({', '.join(ok)})", label)
    labels = tuple(requested) or ok
    if not labels:
        raise ConfigError(f"`space` {space.name!r} must have an unconditional choice with 2+ options to split, got none")
    return labels


def settings_of(space: SearchSpace, cfg: SearchConfig) -> GMSettings:
    """The split settings of a run config (``cfg.sharing`` and ``cfg.train.epochs``)."""
    sh = cfg.sharing
    return GMSettings(split_schedule(cfg.train.epochs, sh.split_epochs), candidate_labels(space, sh.split_labels),
                      sh.gm_batches, sh.max_subnets, sh.split_rounds)


class GMSplitMode(SharingMode):
    """Gradient-matching splits into sub-supernets (see the module docstring)."""

    name = "gm-split"
    description = "gradient-matching splits: sub-supernets along the layer whose choices' gradients disagree most"

    def check(self, spec: SpaceSpec, task_name: str, cfg: SearchConfig) -> None:  # noqa: D102
        if spec.build_supernet is None:
            raise ConfigError(f"`space` {spec.name!r} must be trainable to split its supernet, got a table-backed space")
        settings_of(spec.build_space(), cfg)

    def build_supernet(self, spec: SpaceSpec, task: Task, cfg: SearchConfig, store: RunStore | None) -> Supernet:
        """The sub-supernets of the stored structure (one, unsplit, before training)."""
        if spec.build_supernet is None:
            raise ConfigError(f"`space` {spec.name!r} must be trainable to split its supernet, got a table-backed space")
        saved = (store.read_json(SPLITS_FILE, None) if store is not None else None) or {}
        build = spec.build_supernet
        net = SubSupernets.build(lambda: build(spec.build_space(), task), saved.get("structure"))
        net.history = list(saved.get("history", []))
        return net

    def train(self, ctx: SharingContext, net: Supernet) -> None:
        """Trains with the split schedule, resuming from ``ctx.checkpoint``; writes ``gm_splits.json``."""
        if not isinstance(net, SubSupernets):
            raise invalid("net", "be the SubSupernets built by the gm-split mode", type(net).__name__)
        settings = settings_of(ctx.spec.build_space(), ctx.cfg)
        ctx.stage("train", epochs=ctx.cfg.train.epochs, split_epochs=list(settings.split_epochs))
        trainer = GMTrainer(net, ctx.task, ctx.cfg.train, ctx.train_seed, settings)

        def on_split(entry: dict[str, Any]) -> None:
            _save_structure(ctx.store, net)
            ctx.stage("split", epoch=entry["epoch"], label=entry["label"], groups=entry["groups"],
                      score=round(float(entry["score"]), 4), subnets=len(net))

        trainer.fit(ctx.checkpoint, ctx.on_epoch, on_split)
        _save_structure(ctx.store, net)

    def plan(self, net: Supernet, spec: SpaceSpec, cfg: SearchConfig) -> SharingPlan:
        """One member per sub-supernet (its own copy of every layer) behind a ``routed`` router."""
        if not isinstance(net, SubSupernets):
            raise invalid("net", "be the SubSupernets built by the gm-split mode", type(net).__name__)
        plan = SharingPlan(self.name, {"structure": net.structure, "splits": net.history, "subnets": len(net)})
        router = plan.add_layer("shared", "router", group="router", source="routed", params=0,
                                op="route by " + (", ".join(sorted({k for r in net.structure for k in r})) or "nothing"))
        for i in range(len(net)):
            nodes = [router]
            for name, module in net.sub(i).named_modules():
                own = sum(p.numel() for p in module.parameters(recurse=False))
                if not name or own == 0:
                    continue
                elastic = type(module).__name__.startswith("Elastic") or hasattr(module, "set_active")
                nodes.append(plan.add_layer(f"sub{i}", name, group=f"sub{i}.{name}",
                                            source="slice" if elastic else "static", params=int(own),
                                            op=type(module).__name__, options=net.structure[i]))
            plan.chain(nodes)
        return plan


def _save_structure(store: RunStore, net: SubSupernets) -> None:
    store.write_json(SPLITS_FILE, {"structure": net.structure, "history": net.history})


SHARING.add("gm-split", GMSplitMode())
