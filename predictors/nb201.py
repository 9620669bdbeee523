"""NAS-Bench-201 cell encoding: edge one-hot plus structural features (DESIGN §8).

A cell string lists, for nodes 1..3, their inputs as ``op~j``, one ``+``-separated section
per node::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

Node 0 is the cell input and node 3 its output; the six edges, in this order, are
``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``. An edge whose op is ``none`` carries nothing, so it
cuts every path through it. A cell with no input-to-output path is *disconnected*: those are
the broken cells with about 10% CIFAR-10 accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "NB201_EDGES",
    "NB201_FEATURE_NAMES",
    "NB201_OPS",
    "nb201_arch_str",
    "nb201_features",
    "parse_nb201",
]

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The five NB201 operations, in one-hot order."""

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The six edges as ``(to, from)`` in cell-string order."""

_CONVS = frozenset({"nor_conv_1x1", "nor_conv_3x3"})

NB201_FEATURE_NAMES: tuple[str, ...] = (
    *(f"edge_{t}<-{f}={op}" for t, f in NB201_EDGES for op in NB201_OPS),
    *(f"live_{t}<-{f}" for t, f in NB201_EDGES),
    "n_paths",
    "n_conv1x1_live",
    "n_conv3x3_live",
    "n_skip_live",
    "n_pool_live",
    "max_conv_depth",
    "min_conv_depth",
    "disconnected",
)
"""Names of the columns of :func:`nb201_features`.

- ``edge_*``: one-hot of each edge's op (30 columns);
- ``live_*``: 1 if the edge lies on an input-to-output path (its op is not ``none``, its
  source is reachable from node 0 and node 3 is reachable from its target);
- ``n_paths``: number of distinct input-to-output paths (0..4);
- ``n_conv1x1_live`` / ``n_conv3x3_live`` / ``n_skip_live`` / ``n_pool_live``: ops of each
  kind on live edges;
- ``max_conv_depth`` / ``min_conv_depth``: most / fewest convolutions along any
  input-to-output path (``min_conv_depth == 0`` means a conv-free shortcut exists);
- ``disconnected``: 1 if there is no input-to-output path (all path features are then 0).
"""


def parse_nb201(arch_str: str) -> tuple[str, ...]:
    """Parses a cell string into its six ops, in :data:`NB201_EDGES` order.

    Raises:
        ValueError: if the string is not a well-formed NB201 cell.
    """
    if not isinstance(arch_str, str):
        raise ValueError(f"`arch_str` must be a string, got {type(arch_str).__name__}")
    sections = arch_str.strip().split("+")
    if len(sections) != 3:
        raise ValueError(f"`arch_str` must have 3 '+'-separated node sections, got {arch_str!r}")
    ops: list[str] = []
    for node, section in enumerate(sections, start=1):
        tokens = [t for t in section.strip().strip("|").split("|")]
        if len(tokens) != node:
            raise ValueError(
                f"`arch_str` section {node} must list {node} inputs, got {section!r} in {arch_str!r}"
            )
        for source, token in enumerate(tokens):
            op, sep, src = token.partition("~")
            if not sep or op not in NB201_OPS or src != str(source):
                raise ValueError(
                    f"`arch_str` entry must be 'op~{source}' with op in {list(NB201_OPS)}, "
                    f"got {token!r} in {arch_str!r}"
                )
            ops.append(op)
    return tuple(ops)


def nb201_arch_str(ops: Sequence[str]) -> str:
    """Builds the cell string of six ops given in :data:`NB201_EDGES` order.

    Raises:
        ValueError: if there are not six known ops.
    """
    if len(ops) != 6 or any(op not in NB201_OPS for op in ops):
        raise ValueError(f"`ops` must be 6 ops from {list(NB201_OPS)}, got {list(ops)!r}")
    by_node: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for (to, src), op in zip(NB201_EDGES, ops):
        by_node[to].append(f"{op}~{src}")
    return "+".join("|" + "|".join(by_node[k]) + "|" for k in (1, 2, 3))


@lru_cache(maxsize=16384)
def _features_of(ops: tuple[str, ...]) -> tuple[float, ...]:
    op_of = dict(zip(NB201_EDGES, ops))
    onehot = [float(op == name) for op in ops for name in NB201_OPS]
    # Reachability from the input (forward) and to the output (backward) through non-none edges.
    fwd = [True, False, False, False]
    for to in (1, 2, 3):
        fwd[to] = any(fwd[src] and op_of[(to, src)] != "none" for src in range(to))
    bwd = [False, False, False, True]
    for src in (2, 1, 0):
        bwd[src] = any(bwd[to] and op_of[(to, src)] != "none" for to in range(src + 1, 4))
    live = [float(op != "none" and fwd[src] and bwd[to]) for (to, src), op in op_of.items()]
    live_ops = [op for (edge, op), is_live in zip(op_of.items(), live) if is_live]
    # Path count and conv depth along paths, by dynamic programming over the DAG.
    paths = [1, 0, 0, 0]
    max_d: list[float] = [0.0, -np.inf, -np.inf, -np.inf]
    min_d: list[float] = [0.0, np.inf, np.inf, np.inf]
    for to in (1, 2, 3):
        for src in range(to):
            op = op_of[(to, src)]
            if op == "none" or not fwd[src]:
                continue
            conv = float(op in _CONVS)
            paths[to] += paths[src]
            max_d[to] = max(max_d[to], max_d[src] + conv)
            min_d[to] = min(min_d[to], min_d[src] + conv)
    connected = paths[3] > 0
    return (
        *onehot,
        *live,
        float(paths[3]),
        float(live_ops.count("nor_conv_1x1")),
        float(live_ops.count("nor_conv_3x3")),
        float(live_ops.count("skip_connect")),
        float(live_ops.count("avg_pool_3x3")),
        max_d[3] if connected else 0.0,
        min_d[3] if connected else 0.0,
        float(not connected),
    )


def nb201_features(arch: str | Sequence[str]) -> np.ndarray:
    """Encodes one NB201 cell: edge one-hot plus structural features.

    Args:
        arch: A cell string, or its six ops in :data:`NB201_EDGES` order.

    Returns:
        A float vector of length ``len(NB201_FEATURE_NAMES)`` (44), columns as named there.

    Raises:
        ValueError: if ``arch`` is not a valid NB201 cell.
    """
    if isinstance(arch, str):
        ops = parse_nb201(arch)
    else:
        ops = tuple(arch)
        if len(ops) != 6 or any(op not in NB201_OPS for op in ops):
            raise ValueError(f"`arch` must be a cell string or 6 NB201 ops, got {arch!r}")
    return np.array(_features_of(ops), dtype=float)
