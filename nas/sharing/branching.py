"""Learning to Branch (Guo, Lee, Ulbricht, ICML 2020): learn a multi-task tree by Gumbel-softmax.

The design space has ``nodes[l]`` conv nodes in layer ``l`` (e.g. 1 → 2 → 4) and one head per
task. Node ``j`` of layer ``l > 0`` holds learned logits over the nodes of layer ``l - 1`` and
each head holds logits over the last layer's nodes. A forward pass samples every parent with the
straight-through Gumbel-softmax (one-hot forward, the relaxed softmax's gradient backward), so
every step trains one sampled tree end to end on the sum of the task losses, and the logits learn
which parent serves a node's tasks best.

Schedule (:class:`TemperatureSchedule`):

* **warm-up** (``warmup_epochs``): logits frozen at zero, so parents are drawn uniformly; only
  the weights train and every node learns to serve any task;
* **Gumbel phase** (``epochs``): weights and logits train together; the temperature decays
  exponentially per step from ``tau0`` to ``tau_min`` (a soft relaxation early, near-discrete
  gradients late).

Derivation (:meth:`GumbelTree.derive`): each head and node takes its most likely parent, nodes no
task reaches are pruned, and the derived network (:meth:`GumbelTree.derived_module`, inheriting the
weights) has its BatchNorm statistics recalibrated on training batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nas.data import Task, batches
from nas.errors import invalid
from nas.multitask import head_accuracies, multitask_loss
from nas.sharing.tree import StaticTree, Tree, conv_node, derive_tree, layer_strides, out_length
from nas.supernet.calibrate import recalibrate_bn

__all__ = ["TreeLearnConfig", "TemperatureSchedule", "GumbelTree", "TreeResult", "gumbel_softmax", "learn_tree"]


def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator | None, hard: bool = True) -> torch.Tensor:
    """Gumbel-softmax over the last axis with an owned generator (``None``: no noise, the argmax).

    With ``hard``, the forward value is one-hot and the gradient is the relaxed softmax's.
    """
    if generator is not None:
        u = torch.rand(logits.shape, generator=generator).clamp_(1e-9, 1 - 1e-9)
        logits = logits - torch.log(-torch.log(u))
    soft = torch.softmax(logits / tau, dim=-1)
    if not hard:
        return soft
    one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return one_hot - soft.detach() + soft


@dataclass(frozen=True)
class TemperatureSchedule:
    """Temperature per step: ``tau0`` through the warm-up, then exponential decay to ``tau_min``.

    Attributes:
        tau0: Initial temperature.
        tau_min: Final temperature.
        warmup_steps: Steps with frozen logits (the temperature is ``tau0``).
        anneal_steps: Steps of the Gumbel phase over which it decays.
    """

    tau0: float = 2.0
    tau_min: float = 0.2
    warmup_steps: int = 0
    anneal_steps: int = 1

    def at(self, step: int) -> float:
        """The temperature at a global step."""
        if step < self.warmup_steps:
            return self.tau0
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.anneal_steps))
        return self.tau0 * (self.tau_min / self.tau0) ** progress


@dataclass(frozen=True)
class TreeLearnConfig:
    """How the tree is learned.

    Attributes:
        nodes: Nodes per layer, bottom up.
        width: Channels of every node.
        kernel: Kernel size of every node (odd).
        warmup_epochs: Epochs with frozen logits (uniform parents).
        epochs: Gumbel-phase epochs (logits learned, temperature annealed).
        batch_size: Mini-batch size.
        lr: Weight learning rate (Adam).
        arch_lr: Logit learning rate (Adam).
        tau0: Initial temperature.
        tau_min: Final temperature.
    """

    nodes: tuple[int, ...] = (1, 2, 4)
    width: int = 16
    kernel: int = 5
    warmup_epochs: int = 1
    epochs: int = 3
    batch_size: int = 128
    lr: float = 5e-3
    arch_lr: float = 0.1
    tau0: float = 2.0
    tau_min: float = 0.2

    def __post_init__(self) -> None:
        if not self.nodes or min(self.nodes) < 1:
            raise invalid("tree.nodes", "list at least one layer of at least 1 node", self.nodes)
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise invalid("tree.kernel", "be a positive odd number", self.kernel)
        for name in ("width", "batch_size"):
            if getattr(self, name) < 1:
                raise invalid(f"tree.{name}", "be positive", getattr(self, name))
        for name in ("warmup_epochs", "epochs"):
            if getattr(self, name) < 0:
                raise invalid(f"tree.{name}", "be >= 0", getattr(self, name))
        if not (self.lr > 0 and self.arch_lr > 0 and self.tau0 > 0 and 0 < self.tau_min <= self.tau0):
            raise invalid("tree.lr/arch_lr/tau0/tau_min", "be positive with tau_min <= tau0",
                          (self.lr, self.arch_lr, self.tau0, self.tau_min))


class GumbelTree(nn.Module):
    """The tree design space: every node of every layer, parent logits, one head per task.

    Args:
        in_channels: Input channels.
        length: Input length.
        heads: ``(name, classes)`` per task.
        config: Layer sizes, width and kernel.
    """

    def __init__(self, in_channels: int, length: int, heads: tuple[tuple[str, int], ...], config: TreeLearnConfig) -> None:
        super().__init__()
        self.heads_spec = tuple(heads)
        strides = layer_strides(len(config.nodes))
        w = config.width
        self.layers = nn.ModuleList(
            nn.ModuleList(conv_node(in_channels if l == 0 else w, w, config.kernel, strides[l]) for _ in range(n))
            for l, n in enumerate(config.nodes))
        self.logits = nn.ParameterList(nn.Parameter(torch.zeros(n, config.nodes[l - 1]))
                                       for l, n in enumerate(config.nodes) if l > 0)
        self.head_logits = nn.Parameter(torch.zeros(len(heads), config.nodes[-1]))
        feat = w * out_length(length, len(config.nodes))
        self.classifiers = nn.ModuleList(nn.Linear(feat, c) for _, c in heads)

    def arch_parameters(self) -> list[nn.Parameter]:
        """The parent logits."""
        return [*self.logits, self.head_logits]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Everything but the parent logits."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x: torch.Tensor, tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Runs one sampled tree (``generator=None``: every node's most likely parent)."""
        outs = torch.stack([node(x) for node in self.layers[0]])
        for l in range(1, len(self.layers)):
            gates = gumbel_softmax(self.logits[l - 1], tau, generator)  # (n_l, n_{l-1})
            inputs = torch.einsum("ji,ibcl->jbcl", gates, outs)
            outs = torch.stack([node(inputs[j]) for j, node in enumerate(self.layers[l])])
        gates = gumbel_softmax(self.head_logits, tau, generator)
        feats = torch.einsum("ti,ibcl->tbcl", gates, outs)
        return torch.cat([clf(feats[t].flatten(1)) for t, clf in enumerate(self.classifiers)], dim=1)

    def derive(self) -> Tree:
        """Most likely parents, unreached nodes pruned."""
        parents = [[-1] * len(self.layers[0])] + [lg.argmax(1).tolist() for lg in self.logits]
        return derive_tree(parents, self.head_logits.argmax(1).tolist(), tuple(n for n, _ in self.heads_spec))

    def derived_module(self) -> tuple[Tree, StaticTree]:
        """The derived tree and its static module, inheriting copies of the kept nodes' weights."""
        import copy

        parents = [[-1] * len(self.layers[0])] + [lg.argmax(1).tolist() for lg in self.logits]
        heads = self.head_logits.argmax(1).tolist()
        tree = self.derive()
        keep: list[list[int]] = [[] for _ in self.layers]
        keep[-1] = sorted(set(heads))
        for l in range(len(self.layers) - 1, 0, -1):
            keep[l - 1] = sorted({parents[l][j] for j in keep[l]})
        nodes = [copy.deepcopy(self.layers[l][j]) for l in range(len(self.layers)) for j in keep[l]]
        flat_parents, head_parents = tree.flat()
        return tree, StaticTree(nodes, flat_parents, [copy.deepcopy(c) for c in self.classifiers], head_parents)

    def probabilities(self) -> dict[str, list[list[float]]]:
        """Softmax of every layer's and the heads' logits (JSON-ready)."""
        out = {f"layer{l + 1}": torch.softmax(lg.detach(), 1).tolist() for l, lg in enumerate(self.logits)}
        out["heads"] = torch.softmax(self.head_logits.detach(), 1).tolist()
        return out


@dataclass(frozen=True)
class TreeResult:
    """What learning produced: the tree, its derived network's scores and the history."""

    tree: Tree
    val_accuracy: dict[str, float]
    probabilities: dict[str, list[list[float]]]
    history: list[dict[str, float]]
    config: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form (written to ``branching_tree.json``)."""
        return {"tree": self.tree.to_dict(), "val_accuracy": self.val_accuracy, "probabilities": self.probabilities,
                "history": self.history, "config": self.config, "seconds": self.seconds}


def learn_tree(task: Task, config: TreeLearnConfig, seed: int,
               on_epoch: Callable[[dict[str, float]], None] | None = None) -> TreeResult:
    """Learns the tree on ``task`` (warm-up, then the Gumbel phase), derives it and scores it.

    Args:
        task: A multi-task task (``task.heads`` non-empty).
        config: Design space and recipe.
        seed: Seed of the initial weights, batch order and Gumbel noise.
        on_epoch: Called with each epoch's statistics.

    Raises:
        ConfigError: for a task without heads.
    """
    if not task.heads:
        raise invalid("task", "be a multi-task task (with heads) to learn a branching tree", task.name)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = GumbelTree(task.input_shape[0], task.input_shape[-1], task.heads, config)
    gen = torch.Generator().manual_seed(seed + 1)
    w_opt = torch.optim.Adam(net.weight_parameters(), lr=config.lr)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=config.arch_lr)
    steps = math.ceil(len(task.train) / config.batch_size)
    schedule = TemperatureSchedule(config.tau0, config.tau_min, config.warmup_epochs * steps, config.epochs * steps)
    history, step = [], 0
    for epoch in range(config.warmup_epochs + config.epochs):
        net.train()
        learning, total = epoch >= config.warmup_epochs, 0.0
        for x, y in batches(task.train, config.batch_size, gen):
            tau = schedule.at(step)
            w_opt.zero_grad(set_to_none=True)
            a_opt.zero_grad(set_to_none=True)
            loss = multitask_loss(net(x, tau, gen), y, task.heads)
            loss.backward()
            w_opt.step()
            if learning:
                a_opt.step()
            total += float(loss.detach())
            step += 1
        stats = {"epoch": epoch + 1, "loss": total / steps, "tau": schedule.at(step - 1), "learning": float(learning)}
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
    tree, module = net.derived_module()
    calib = list(task.train.x[torch.randperm(len(task.train), generator=gen)[:1024]].split(256))
    recalibrate_bn(module, calib)
    return TreeResult(tree, head_accuracies(module, task.val, task.heads), net.probabilities(), history,
                      asdict(config), time.perf_counter() - start)
