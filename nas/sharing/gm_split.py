"""Gradient matching (GM-NAS, Hu et al., ICLR 2022): where do a layer's choices disagree?

For a layer (a label of the space) whose options share weights, each option ``o`` sends a gradient
to the shared weights of the rest of the network. With the other choices held fixed, the
gradient of the loss of the subnet that takes ``o`` is measured on the same batches for every
option and averaged. Options whose average gradients point apart (cosine distance near 1 or
above) pull the shared weights in conflicting directions and should not share them.

Call sequence::

    grads = choice_gradients(net, "e01.op", batches, rng)   # option -> mean gradient vector
    sim = similarity_matrix(list(grads.values()))           # cosine similarities
    groups, score = partition(sim)                          # 2 groups, mean cross-group distance
    best = best_split(net, ["e01.op", "e02.op"], batches, rng)  # the layer with the largest score

Partition: the options are split into two non-empty groups whose sizes differ by at most one,
minimising the cut (the total similarity across the groups). Up to :data:`EXACT_LIMIT` options
every bipartition is enumerated (exact); above, ``networkx``'s Kernighan-Lin bisection on the
graph weighted by ``(1 + cos) / 2`` (with balanced groups the shift does not change the optimum).
A layer's *cut score* is the mean cosine distance ``1 - cos`` over pairs across its two groups,
comparable between layers with different option counts; the largest is split first.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F

from nas.errors import ConfigError, invalid
from nas.space import Value
from nas.supernet.base import Supernet

__all__ = ["EXACT_LIMIT", "LayerSplit", "choice_gradients", "similarity_matrix", "partition", "cut_score",
           "best_split", "split_schedule", "owned_prefixes"]

EXACT_LIMIT = 12

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LayerSplit:
    """The proposed split of one layer's options.

    Attributes:
        label: The layer (choice label).
        groups: The two groups of options.
        score: Mean cosine distance across the groups (larger: stronger disagreement).
        options: The options scored, in order.
        similarity: Their cosine-similarity matrix (row-major, as nested lists).
    """

    label: str
    groups: tuple[tuple[Value, ...], tuple[Value, ...]]
    score: float
    options: tuple[Value, ...]
    similarity: tuple[tuple[float, ...], ...]

    def to_dict(self) -> dict[str, object]:
        """JSON form (stored in the split history)."""
        return {"label": self.label, "groups": [list(g) for g in self.groups], "score": self.score,
                "options": list(self.options), "similarity": [list(r) for r in self.similarity]}


def owned_prefixes(net: Supernet, label: str) -> tuple[str, ...]:
    """Parameter-name prefixes that ``label`` itself selects between (excluded from matching).

    A supernet may declare them with ``owned_parameters(label)``; without it every parameter is
    compared (for entangled layers the layer's own weight is then part of the comparison).
    """
    hook = getattr(net, "owned_parameters", None)
    return tuple(hook(label)) if callable(hook) else ()


def _arch_values(net: Supernet, rng: np.random.Generator) -> dict[str, Value]:
    """One option drawn for every label (inactive ones too, so any fixed label can be set)."""
    return {c.label: c.options[int(rng.integers(len(c.options)))] for c in net.space.choices}


def choice_gradients(net: Supernet, label: str, batches: Sequence[Batch], rng: np.random.Generator,
                     options: Sequence[Value] | None = None) -> dict[Value, torch.Tensor]:
    """The mean gradient each option of ``label`` sends to the shared weights.

    For every batch one random setting of the other choices is drawn and each option is run with
    it (paired comparison). BatchNorm running statistics are restored afterwards, so the network
    is left exactly as it was.

    Args:
        net: The (sub-)supernet; its space restricts the options and the other choices.
        label: The layer's label.
        batches: ``(x, y)`` mini-batches.
        rng: Generator of the other choices.
        options: Options compared (default: all of ``label``'s options in ``net.space``).

    Returns:
        Option -> flattened mean gradient over the parameters not owned by ``label``.
    """
    if label not in net.space.labels:
        raise invalid("label", f"be a label of space `{net.space.name}`", label)
    opts = tuple(options) if options is not None else tuple(net.space.choice(label).options)
    if len(opts) < 2 or not batches:
        raise invalid("options/batches", "hold at least 2 options and 1 batch", (len(opts), len(batches)))
    owned = owned_prefixes(net, label)
    params = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith(owned)]
    if not params:
        raise ConfigError(f"`label` {label!r} must leave shared weights to compare, got every parameter owned by it")
    saved = {k: v.clone() for k, v in net.named_buffers()}
    was_training, previous = net.training, net.active_arch
    sums = {o: torch.zeros(sum(p.numel() for p in params)) for o in opts}
    net.train()
    try:
        for x, y in batches:
            values = _arch_values(net, rng)
            for o in opts:
                net.set_arch(net.space.make(values | {label: o}))
                grads = torch.autograd.grad(F.cross_entropy(net(x), y), params, allow_unused=True)
                sums[o] += torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                      for g, p in zip(grads, params)])
    finally:
        with torch.no_grad():
            for k, v in net.named_buffers():
                v.copy_(saved[k])
        net.set_arch(previous if not net.space.validate(previous) else net.max_arch())
        net.train(was_training)
    return {o: s / len(batches) for o, s in sums.items()}


def similarity_matrix(grads: Sequence[torch.Tensor]) -> np.ndarray:
    """Cosine similarities between gradient vectors (a zero vector is dissimilar to all: 0)."""
    g = torch.stack([v.double() for v in grads])
    norms = g.norm(dim=1).clamp_min(1e-30)
    sim = (g @ g.T) / norms[:, None] / norms[None, :]
    out = sim.clamp(-1.0, 1.0).numpy()
    np.fill_diagonal(out, 1.0)
    return out


def cut_score(sim: np.ndarray, group_a: Sequence[int]) -> float:
    """Mean cosine distance ``1 - sim`` over the pairs that ``group_a`` and its complement cut."""
    a = set(group_a)
    b = [j for j in range(len(sim)) if j not in a]
    if not a or not b:
        raise invalid("group_a", "be a non-empty proper subset of the options", sorted(a))
    return float(np.mean([1.0 - sim[i, j] for i in a for j in b]))


def _exact(sim: np.ndarray) -> tuple[int, ...]:
    n = len(sim)
    best: tuple[float, tuple[int, ...]] | None = None
    for size in sorted({n // 2, (n + 1) // 2}):
        for rest in itertools.combinations(range(1, n), size - 1):
            a = (0, *rest)  # option 0 always in group A: each bipartition once
            b = [j for j in range(n) if j not in a]
            cut = float(sum(sim[i, j] for i in a for j in b))
            if best is None or cut < best[0] - 1e-12:
                best = (cut, a)
    if best is None:  # n >= 2 always gives a candidate
        raise invalid("similarity", "cover at least 2 options", n)
    return best[1]


def _kernighan_lin(sim: np.ndarray, seed: int) -> tuple[int, ...]:
    graph = nx.Graph()
    n = len(sim)
    graph.add_nodes_from(range(n))
    for i, j in itertools.combinations(range(n), 2):
        graph.add_edge(i, j, weight=(1.0 + float(sim[i, j])) / 2.0)
    a, _ = nx.algorithms.community.kernighan_lin_bisection(graph, weight="weight", seed=seed, max_iter=50)
    return tuple(sorted(a))


def partition(sim: np.ndarray, seed: int = 0,
              exact_limit: int = EXACT_LIMIT) -> tuple[tuple[int, ...], tuple[int, ...], float]:
    """Splits options into two balanced groups minimising the similarity across them.

    Args:
        sim: Square cosine-similarity matrix of the options' gradients.
        seed: Seed of the graph partition (used above ``exact_limit`` options only).
        exact_limit: Largest option count partitioned by exhaustive enumeration.

    Returns:
        ``(group_a, group_b, score)``: option indices (sorted, ``0`` in ``group_a`` for the exact
        method) and the cut score (mean cross-group cosine distance).
    """
    sim = np.asarray(sim, dtype=float)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] < 2:
        raise invalid("sim", "be a square matrix of at least 2 options", getattr(sim, "shape", None))
    a = _exact(sim) if len(sim) <= exact_limit else _kernighan_lin(sim, seed)
    b = tuple(j for j in range(len(sim)) if j not in a)
    return a, b, cut_score(sim, a)


def best_split(net: Supernet, labels: Sequence[str], batches: Sequence[Batch], rng: np.random.Generator,
               seed: int = 0) -> LayerSplit | None:
    """Scores every label with at least 2 options in ``net.space`` and returns the largest cut.

    Returns:
        The split of the layer with the largest cut score, or ``None`` when no label can split.
    """
    best: LayerSplit | None = None
    for label in labels:
        opts = tuple(net.space.choice(label).options)
        if len(opts) < 2:
            continue
        grads = choice_gradients(net, label, batches, rng, opts)
        sim = similarity_matrix([grads[o] for o in opts])
        a, b, score = partition(sim, seed)
        split = LayerSplit(label, (tuple(opts[i] for i in a), tuple(opts[i] for i in b)), score, opts,
                           tuple(tuple(float(v) for v in row) for row in sim))
        if best is None or split.score > best.score:
            best = split
    return best


def split_schedule(epochs: int, requested: Sequence[int] = ()) -> tuple[int, ...]:
    """The epochs at whose start the supernet splits.

    Args:
        epochs: Total training epochs.
        requested: Explicit split epochs (each in ``[0, epochs)``); empty: one split half-way.

    Raises:
        ConfigError: for an epoch outside ``[0, epochs)`` or a repeated one.
    """
    if epochs <= 0:
        return ()
    if not requested:
        return (epochs // 2,)
    for e in requested:
        if not 0 <= int(e) < epochs:
            raise invalid("sharing.split_epochs", f"hold epochs in [0, {epochs}) (train.epochs = {epochs})", list(requested))
    if len(set(requested)) != len(requested):
        raise invalid("sharing.split_epochs", "hold distinct epochs", list(requested))
    return tuple(sorted(int(e) for e in requested))
