"""The candidates a predictor round scores on a space too large to enumerate.

A uniform sample (the same every round, so that the reference point of the acquisition is
stable), the neighbours of the measured front, and what a predictor-only search finds: the
study-free :func:`~nas.search.candidates.local_pool` by default, or an in-memory Optuna NSGA-II
(:func:`~nas.search.candidates.inner_search`). Features are encoded once per architecture and
round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nas.search.candidates import elite_rows, inner_search, local_pool, neighbours
from nas.search.loop import derive_seed
from nas.space import Arch, SearchSpace

__all__ = ["searched_pool", "uniform_sample", "INNER_METHODS", "MAX_REFERENCE_SAMPLE", "MAX_NEIGHBOURED", "LOCAL_ELITE"]

INNER_METHODS = ("local", "nsga2")
MAX_REFERENCE_SAMPLE = 1024
"""Uniform samples per round (they also set the acquisition's reference point)."""
MAX_NEIGHBOURED = 20
"""Front members whose neighbours join the pool."""
LOCAL_ELITE = 16
"""Best-predicted uniform samples that seed the local search beside the measured front."""


def uniform_sample(space: SearchSpace, encode: Callable[[Arch], np.ndarray], seed: int) -> tuple[list[Arch], np.ndarray]:
    """The round's uniform sample (the same in every round of a strategy seed) and its features."""
    sample_rng = np.random.default_rng(derive_seed(seed, 17))
    archs = [space.sample(sample_rng) for _ in range(MAX_REFERENCE_SAMPLE)]
    return archs, np.vstack([np.asarray(encode(a), dtype=float).reshape(-1) for a in archs])


def searched_pool(space: SearchSpace, encode: Callable[[Arch], np.ndarray], optimistic: Callable[[np.ndarray], np.ndarray],
                  front: Sequence[Arch], taken: set[str], seed: int, round_: int, inner: str = "local",
                  inner_trials: int = 1000, inner_population: int = 100,
                  uniform: tuple[list[Arch], np.ndarray] | None = None) -> tuple[list[Arch], np.ndarray, np.ndarray]:
    """Unevaluated candidates of one round, their features, and the rows of the uniform sample.

    Args:
        space: The space.
        encode: ``Arch -> feature vector``.
        optimistic: Features ``(n, d)`` -> ``(n, k)`` optimistic predicted losses (what the
            predictor-only search minimises).
        front: The measured front's architectures.
        taken: ``arch_id`` values not to return (evaluated, in flight, failed).
        seed: The strategy's seed.
        round_: The round number (seeds the search of this round).
        inner: ``local`` or ``nsga2``.
        inner_trials: NSGA-II trials.
        inner_population: NSGA-II population.
        uniform: :func:`uniform_sample` of this space, encoding and seed, when the caller keeps it
            between rounds (drawn and encoded here otherwise).

    Raises:
        ValueError: naming ``inner`` when it is unknown.
    """
    if inner not in INNER_METHODS:
        raise ValueError(f"`inner` must be one of {list(INNER_METHODS)}, got {inner!r}")
    uniform_archs, uniform_x = uniform if uniform is not None else uniform_sample(space, encode, seed)
    rows: dict[str, np.ndarray] = {a.arch_id: x for a, x in zip(uniform_archs, uniform_x)}

    def features(archs: Sequence[Arch]) -> np.ndarray:
        out = []
        for a in archs:
            key = a.arch_id
            if key not in rows:
                rows[key] = np.asarray(encode(a), dtype=float).reshape(-1)
            out.append(rows[key])
        return np.vstack(out)

    def score(archs: Sequence[Arch]) -> np.ndarray:
        return optimistic(features(archs))

    if inner == "nsga2":
        k = score(uniform_archs[:1]).shape[1]
        found = inner_search(space, score, k, inner_trials, inner_population, derive_seed(seed, 19, round_))
    else:
        best = [uniform_archs[i] for i in elite_rows(score(uniform_archs), LOCAL_ELITE)]
        found = local_pool(space, score, list(front[:MAX_NEIGHBOURED]) + best, np.random.default_rng(derive_seed(seed, 19, round_)))
    for a in front[:MAX_NEIGHBOURED]:
        found.extend(neighbours(space, a))
    pool: dict[str, Arch] = {a.arch_id: a for a in uniform_archs if a.arch_id not in taken}
    ref_rows = np.arange(len(pool))
    for a in found:
        if a.arch_id not in taken:
            pool.setdefault(a.arch_id, a)
    archs = list(pool.values())
    return archs, features(archs), ref_rows
