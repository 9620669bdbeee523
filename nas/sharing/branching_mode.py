"""The ``branching`` sharing mode: learn which tasks share which layers, then search the tree.

Steps (driven by the runner, see :mod:`nas.sharing.modes`):

1. ``check``: the task must be multi-task (``TaskSpec.heads``) and the space must give node
   options (a ``cnn1d``-like space: ``s1.width`` and ``s1.b1.kernel`` choices).
2. ``learn``: :func:`~nas.sharing.branching.learn_tree` over ``sharing.tree_nodes`` with
   ``sharing.warmup_epochs`` of warm-up and ``sharing.tree_epochs`` of Gumbel-softmax training;
   the derived tree (and its learned probabilities and recalibrated accuracies) goes to
   ``branching_tree.json``. Idempotent: a stored tree is kept, so ``nas resume`` never relearns it
   (a run killed while learning relearns the tree from the start: the phase is short and seeded).
3. ``run_spec``: the space over the derived tree (``<space>+branching``: width and kernel per node,
   options of the base space), reported metrics extended by ``acc_<task>``.
4. ``build_supernet``/``train``: the :class:`~nas.sharing.tree_supernet.TreeSupernet`, trained
   with the sandwich rule on the summed task losses (the default trainer, multi-task aware).
5. ``plan``: tree nodes as plan layers; a node used by several tasks appears once, member
   ``shared`` (all tasks) or the tasks joined with ``+``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import torch

from nas.catalog import SpaceSpec
from nas.data import TASKS, Task
from nas.errors import ConfigError
from nas.multitask import head_metrics
from nas.sharing.branching import TreeLearnConfig, learn_tree
from nas.sharing.modes import SHARING, SharingContext, SharingMode
from nas.sharing.plan import SharingPlan
from nas.sharing.tree import Tree
from nas.sharing.tree_supernet import TreeSupernet, build_tree_space, short_tree
from nas.space import SearchSpace

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.store import RunStore
    from nas.supernet.base import Supernet

__all__ = ["BranchingMode", "TREE_FILE", "node_options"]

TREE_FILE = "branching_tree.json"
WIDTH_LABEL, KERNEL_LABEL = "s1.width", "s1.b1.kernel"


def node_options(spec: SpaceSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Width and kernel options of tree nodes, read from the base space.

    Raises:
        ConfigError: if the space has no ``s1.width`` / ``s1.b1.kernel`` choices.
    """
    space = spec.build_space()
    labels = set(space.labels)
    if WIDTH_LABEL not in labels or KERNEL_LABEL not in labels:
        raise ConfigError(f"`space` must have `{WIDTH_LABEL}` and `{KERNEL_LABEL}` choices (a cnn1d-like space) "
                          f"for sharing 'branching', got space `{spec.name}`")
    widths = tuple(int(v) for v in space.choice(WIDTH_LABEL).options)  # type: ignore[arg-type]
    kernels = tuple(int(v) for v in space.choice(KERNEL_LABEL).options)  # type: ignore[arg-type]
    return widths, kernels


def _build_tree(tree: Tree, space: SearchSpace, task: Task) -> TreeSupernet:
    return TreeSupernet(space, tree, task.input_shape[0], task.input_shape[-1], task.heads)


class BranchingMode(SharingMode):
    """Learning to Branch for multi-task tasks, then a search over the derived tree."""

    name = "branching"
    description = "multi-task: learn the task tree by Gumbel-softmax, then search widths/kernels per tree node"

    def tasks(self, spec: SpaceSpec) -> tuple[str, ...]:  # noqa: D102
        return tuple(name for name in TASKS.names() if TASKS.get(name).heads) if self._supports(spec) else spec.tasks

    @staticmethod
    def _supports(spec: SpaceSpec) -> bool:
        try:
            node_options(spec)
        except ConfigError:
            return False
        return True

    def check(self, spec: SpaceSpec, task_name: str, cfg: SearchConfig) -> None:  # noqa: D102
        node_options(spec)
        if not TASKS.get(task_name, "task").heads:
            multi = [n for n in TASKS.names() if TASKS.get(n).heads]
            raise ConfigError(f"`task` must be a multi-task task (one of {multi}) for sharing 'branching', got {task_name!r}")

    def learn(self, ctx: SharingContext) -> None:  # noqa: D102
        if ctx.store.file(TREE_FILE).exists():
            return
        s = ctx.cfg.sharing
        config = TreeLearnConfig(nodes=tuple(int(n) for n in s.tree_nodes), width=s.tree_width,
                                 warmup_epochs=s.warmup_epochs, epochs=s.tree_epochs,
                                 batch_size=ctx.cfg.train.batch_size, lr=ctx.cfg.train.lr)
        ctx.stage("branching", nodes=list(config.nodes), warmup_epochs=config.warmup_epochs, epochs=config.epochs)
        threads = torch.get_num_threads()
        if ctx.cfg.train.threads:  # the trainer's thread setting holds for the learned phase too
            torch.set_num_threads(ctx.cfg.train.threads)
        try:
            result = learn_tree(ctx.task, config, ctx.train_seed,
                                on_epoch=lambda stats: ctx.store.event("branching-epoch", **stats))
        finally:
            torch.set_num_threads(threads)
        ctx.store.write_json(TREE_FILE, result.to_dict())
        layer, labels = result.tree.first_split()
        ctx.store.event("branching-tree", tree=result.tree.to_dict(), first_split=layer, partition=list(labels),
                        val_accuracy=result.val_accuracy["accuracy"])

    def run_spec(self, spec: SpaceSpec, cfg: SearchConfig, store: RunStore | None) -> SpaceSpec:  # noqa: D102
        if store is None or not store.file(TREE_FILE).exists():
            raise ConfigError(f"`sharing` 'branching' must have learned its tree ({TREE_FILE}) before the searched "
                              f"space exists, got {'no run folder' if store is None else 'no ' + TREE_FILE}")
        tree = Tree.from_dict(store.read_json(TREE_FILE)["tree"])
        widths, kernels = node_options(spec)
        name = f"{spec.name}+branching"
        task = cfg.task or spec.default_task
        extra = tuple(m for m in head_metrics(tree.tasks) if m not in spec.metrics)
        return dataclasses.replace(
            spec, name=name, tasks=(task,), features=None, metrics=tuple(spec.metrics) + extra,
            build_space=functools.partial(build_tree_space, tree, widths, kernels, name),
            build_supernet=functools.partial(_build_tree, tree), short=functools.partial(short_tree, tree))

    def plan(self, net: Supernet, spec: SpaceSpec, cfg: SearchConfig) -> SharingPlan:  # noqa: D102
        if not isinstance(net, TreeSupernet):
            raise ConfigError(f"`supernet` must be a TreeSupernet for sharing 'branching', got {type(net).__name__}")
        tree = net.tree
        layer, labels = tree.first_split()
        plan = SharingPlan(self.name, {"tree": tree.to_dict(), "first_split": layer, "partition": list(labels),
                                       "tasks": list(tree.tasks)})
        users = tree.users()
        made = []
        for i, (node, lab) in enumerate(zip(net.nodes, net.labels)):
            l, j = net.layer_of[i], int(lab.split(".n")[1])
            who = users[(l, j)]
            member = "shared" if len(who) == len(tree.tasks) else "+".join(who)
            made.append(plan.add_layer(member, lab, group=lab, source="slice", tasks=list(who), layer=l,
                                       params=sum(p.numel() for p in node.parameters()), op="conv-bn-relu"))
            if net.parents[i] >= 0:
                plan.add_flow(made[net.parents[i]], made[-1])
        for t, (task, head) in enumerate(zip(tree.tasks, net.heads)):
            h = plan.add_layer(task, "head", group=f"{task}.head", source="slice", tasks=[task],
                               params=sum(p.numel() for p in head.parameters()), op="linear")
            plan.add_flow(made[net.head_parents[t]], h)
        return plan


SHARING.add("branching", BranchingMode())
