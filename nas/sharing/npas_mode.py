"""The ``npas`` sharing mode: train the supernet under a parameter budget (Shapeshifter Networks).

``nas search --sharing npas --param-budget 0.25`` builds the space's ordinary supernet and
replaces every conv/linear max weight by one generated from a parameter bank of its group
(:mod:`nas.sharing.bank`); the TOTAL of trainable parameters (banks, coefficients, and the plain
biases and BatchNorm parameters) equals the budget exactly. Subnets still slice the generated max
weight, so search, evaluation, latency and the materialised export are those of the ordinary
space; evaluations add ``params_stored`` (what a compact ``banked`` export of the subnet stores)
beside ``params`` (the inference parameter count).

Call sequence (driven by the runner)::

    learn(ctx)          # writes npas_groups.json: the layer-to-group mapping; for `learned`,
                        # after a warm-up of sharing.warmup_epochs with one shared bank
                        # (checkpointed in npas_warmup.safetensors, so a killed warm-up resumes),
                        # k-means on what the warm-up changed in each layer's coefficients,
                        # capacity-constrained so that every group generates a balanced share
                        # of the parameters (no starved bank, see nas.sharing.npas)
    build_supernet(...) # BankedSupernet(base supernet, mapping from npas_groups.json, budget)
    train(ctx, net)     # the ordinary sandwich-rule trainer (banks and coefficients learn)
    plan(...)           # every banked layer: source=bank, group=bank<g>

With ``sharing.budget_choices`` the searched space is ``<space>+npas``, whose ``npas.budget``
dimension picks the share of every bank a subnet uses (:mod:`nas.sharing.bank_budget`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from nas.catalog import SPACES, SpaceSpec
from nas.errors import ConfigError, invalid
from nas.search.loop import derive_seed
from nas.sharing.bank import BankedSupernet, banked_layers
from nas.sharing.bank_budget import budget_spec
from nas.sharing.modes import SHARING, SharingContext, SharingMode
from nas.sharing.npas import make_groups, single_groups
from nas.sharing.plan import SharingPlan
from nas.supernet.base import seeded_build

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.data import Task
    from nas.store import RunStore
    from nas.supernet.base import Supernet

__all__ = ["NPASMode", "GROUPS_FILE", "WARMUP_CHECKPOINT", "build_banked"]

GROUPS_FILE = "npas_groups.json"
WARMUP_CHECKPOINT = "npas_warmup.safetensors"


def build_banked(spec: SpaceSpec, task: Task, cfg: SearchConfig, groups: list[int] | None) -> BankedSupernet:
    """The banked supernet of ``spec`` under ``cfg.sharing`` (``groups=None``: one shared bank).

    ``spec`` is the registered space (a searched ``<space>+npas`` spec is mapped back to it).
    """
    if spec.name.endswith("+npas"):
        spec = SPACES.get(spec.name[: -len("+npas")], "space")
    if spec.build_supernet is None:
        raise ConfigError(f"`space` {spec.name!r} must be trainable to share parameter banks, got a table-backed space")
    inner = spec.build_supernet(spec.build_space(), task)
    sh = cfg.sharing
    natural = sum(p.numel() for p in inner.parameters() if p.requires_grad)
    n_layers = len(banked_layers(inner))
    if groups is None:
        groups = single_groups(n_layers)
    return BankedSupernet(inner, groups, sh.budget_params(natural), sh.templates, sh.upsample,
                          seed=derive_seed(cfg.seed, 11), budget_choices=sh.budget_choices)


class NPASMode(SharingMode):
    """Parameter banks under a budget, with type/random/single/learned layer-to-group mappings."""

    name = "npas"
    description = "NPAS / Shapeshifter Networks: layers generated from per-group parameter banks under --param-budget"
    extra_metrics = ("params_stored",)

    def check(self, spec: SpaceSpec, task_name: str, cfg: SearchConfig) -> None:  # noqa: D102
        if spec.build_supernet is None:
            raise ConfigError(f"`sharing.kind` 'npas' must run on a trainable space, got `{spec.name}`")
        if cfg.sharing.groups == "learned" and cfg.sharing.warmup_epochs < 1:
            raise invalid("sharing.warmup_epochs", "be at least 1 with `sharing.groups: learned` (the warm-up "
                          "learns the coefficients that k-means groups)", cfg.sharing.warmup_epochs)

    def learn(self, ctx: SharingContext) -> None:
        """Writes ``npas_groups.json`` (idempotent); for ``learned`` runs the single-bank warm-up first."""
        if ctx.store.file(GROUPS_FILE).exists():
            return
        sh = ctx.cfg.sharing
        net = seeded_build(lambda: build_banked(ctx.spec, ctx.task, ctx.cfg, None), ctx.init_seed)
        coefs = None
        if sh.groups == "learned":
            from nas.train import Trainer

            ctx.stage("npas-warmup", epochs=sh.warmup_epochs, budget=net.budget)
            recipe = dataclasses.replace(ctx.cfg.train, epochs=sh.warmup_epochs,
                                         warmup_epochs=min(ctx.cfg.train.warmup_epochs, sh.warmup_epochs))
            start = net.coefficients()  # the seeded init, rebuilt identically when a killed warm-up resumes
            Trainer(net, ctx.task, recipe, derive_seed(ctx.train_seed, 12)).fit(ctx.store.file(WARMUP_CHECKPOINT))
            coefs = (net.coefficients() - start).numpy()
        groups = make_groups(sh.groups, net.layers, sh.num_groups, derive_seed(ctx.cfg.seed, 13), coefs)
        ctx.store.write_json(GROUPS_FILE, {
            "groups": groups, "how": sh.groups, "layers": [layer.module for layer in net.layers],
            "coefficients": coefs.tolist() if coefs is not None else None})
        ctx.store.file(WARMUP_CHECKPOINT).unlink(missing_ok=True)
        ctx.stage("npas-groups", how=sh.groups, groups=len(set(groups)))

    def run_spec(self, spec: SpaceSpec, cfg: SearchConfig, store: RunStore | None) -> SpaceSpec:
        """The same space with ``params_stored`` among its metrics; with ``sharing.budget_choices``,
        the ``<space>+npas`` space that adds the ``npas.budget`` dimension."""
        extra = tuple(m for m in self.extra_metrics if m not in spec.metrics)
        out = dataclasses.replace(spec, metrics=tuple(spec.metrics) + extra)
        return budget_spec(out, cfg.sharing.budget_choices) if cfg.sharing.budget_choices else out

    def build_supernet(self, spec: SpaceSpec, task: Task, cfg: SearchConfig, store: RunStore | None) -> Supernet:
        """The banked supernet, with the mapping of ``npas_groups.json`` when the run has one.

        Raises:
            ConfigError: for ``learned`` groups without a stored mapping (``learn`` makes it).
        """
        stored = store.read_json(GROUPS_FILE, None) if store is not None else None
        if stored is not None:
            return build_banked(spec, task, cfg, list(stored["groups"]))
        sh = cfg.sharing
        if sh.groups == "learned":
            raise ConfigError(f"`sharing.groups` 'learned' must have the warm-up's {GROUPS_FILE} in the run folder, "
                              "got none (run `nas resume` to learn it)")
        probe = build_banked(spec, task, cfg, None)
        return build_banked(spec, task, cfg, make_groups(sh.groups, probe.layers, sh.num_groups,
                                                         derive_seed(cfg.seed, 13)))

    def plan(self, net: Supernet, spec: SpaceSpec, cfg: SearchConfig) -> SharingPlan:
        """Banked layers as ``source=bank`` nodes of group ``bank<g>``; the rest sliced or static."""
        if not isinstance(net, BankedSupernet):
            raise invalid("supernet", "be a BankedSupernet for the npas plan", type(net).__name__)
        plan = SharingPlan("npas", _meta(net, cfg))
        banked = {layer.module: i for i, layer in enumerate(net.layers)}
        nodes = []
        for name, module in net.inner.named_modules():
            own = sum(p.numel() for p in module.parameters(recurse=False))
            if name in banked:
                i = banked[name]
                layer, g = net.layers[i], net.groups[i]
                nodes.append(plan.add_layer("shared", name, group=f"bank{g}", source="bank", op=layer.kind,
                                            params=layer.numel + own, shape=list(layer.shape),
                                            bank_params=net.bank_sizes[g], coefficients=net.templates))
            elif name and own:
                elastic = type(module).__name__.startswith("Elastic") or hasattr(module, "set_active")
                nodes.append(plan.add_layer("shared", name, group=name, source="slice" if elastic else "static",
                                            params=int(own), op=type(module).__name__))
        plan.chain(nodes)
        return plan


def _meta(net: BankedSupernet, cfg: SearchConfig) -> dict[str, Any]:
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return {"budget": net.budget, "natural_params": net.natural, "params_stored": trainable,
            "budget_fraction": net.budget / net.natural, "groups": cfg.sharing.groups,
            "num_groups": len(net.bank_sizes), "bank_sizes": net.bank_sizes, "templates": net.templates,
            "upsample": net.upsample, "coefficients": net.templates * len(net.layers),
            "budget_choices": list(net.budget_choices)}


SHARING.add("npas", NPASMode())
