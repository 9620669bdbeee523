"""Where a predictor-guided search finds candidates: seeded designs, neighbours, an inner search.

- :func:`initial_design`: a seeded scrambled-Sobol (or uniform random) set of distinct
  architectures, the population evaluated before any predictor is fitted;
- :func:`neighbours`: every architecture one choice away from a given one;
- :func:`crossovers`: children of pairs of given architectures (uniform crossover, one mutation);
- :func:`local_pool`: a predictor-only local search without a study: parents, their neighbours
  and crossovers, the best-predicted of them expanded again, each generation scored in one
  vectorised call (what the predictor strategy uses on large spaces; cheap enough for every round);
- :func:`inner_search`: an in-memory Optuna NSGA-II study over *predicted* losses (no
  evaluation): whole generations are asked, scored in one vectorised call, and told.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import optuna

from nas.space import Arch, SearchSpace

__all__ = ["initial_design", "neighbours", "crossovers", "elite_rows", "local_pool", "inner_search", "INIT_METHODS", "MAX_DESIGN_TRIES"]

INIT_METHODS = ("sobol", "random")
MAX_DESIGN_TRIES = 20
"""Rounds of drawing before :func:`initial_design` gives up on finding ``n`` distinct archs."""


def _from_unit(space: SearchSpace, u: np.ndarray) -> Arch:
    values = {}
    for c, x in zip(space.choices, u):
        values[c.label] = c.options[min(int(x * len(c.options)), len(c.options) - 1)]
    return space.make(values)


def initial_design(space: SearchSpace, n: int, rng: np.random.Generator, method: str = "sobol",
                   exclude: set[str] | frozenset[str] = frozenset()) -> list[Arch]:
    """Up to ``n`` distinct architectures spread over the space's choices.

    Args:
        space: The space.
        n: How many.
        rng: Seeds the Sobol scrambling or draws the random points.
        method: ``sobol`` (scrambled Sobol points mapped to option indices) or ``random``.
        exclude: ``arch_id`` values not to return (already evaluated).

    Raises:
        ValueError: naming ``init`` when ``method`` is unknown.
    """
    if method not in INIT_METHODS:
        raise ValueError(f"`init` must be one of {list(INIT_METHODS)}, got {method!r}")
    out: list[Arch] = []
    seen = set(exclude)
    d = len(space.choices)
    for _ in range(MAX_DESIGN_TRIES):
        if len(out) >= n:
            break
        m = max(2, 1 << int(np.ceil(np.log2(max(n, 2)))))
        if method == "sobol":
            from scipy.stats import qmc

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                points = qmc.Sobol(d, scramble=True, rng=rng).random(m)
        else:
            points = rng.random((m, d))
        for u in points:
            arch = _from_unit(space, u)
            if arch.arch_id not in seen:
                seen.add(arch.arch_id)
                out.append(arch)
                if len(out) >= n:
                    break
    return out


def neighbours(space: SearchSpace, arch: Arch) -> list[Arch]:
    """Every distinct valid architecture that differs from ``arch`` in exactly one choice."""
    base = space.params(arch)
    out: dict[str, Arch] = {}
    for c in space.choices:
        for option in c.options:
            if option == base[c.label]:
                continue
            other = space.make(base | {c.label: option})
            if other.arch_id != arch.arch_id:
                out.setdefault(other.arch_id, other)
    return list(out.values())


def crossovers(space: SearchSpace, parents: Sequence[Arch], n: int, rng: np.random.Generator) -> list[Arch]:
    """``n`` children (possibly repeated) of random pairs of ``parents``.

    Each child takes every choice from one of its two parents at random, then one random
    choice is set to a random option (a mutation), so that children of identical parents differ.
    """
    if len(parents) == 0 or n < 1:
        return []
    params = [space.params(a) for a in parents]
    out = []
    for _ in range(n):
        i, j = rng.integers(len(params), size=2)
        take = rng.random(len(space.choices)) < 0.5
        child = {c.label: (params[i] if t else params[j]).get(c.label, c.options[0]) for c, t in zip(space.choices, take)}
        c = space.choices[int(rng.integers(len(space.choices)))]
        child[c.label] = c.options[int(rng.integers(len(c.options)))]
        out.append(space.make(child))
    return out


def elite_rows(losses: np.ndarray, k: int) -> np.ndarray:
    """Indices of up to ``k`` rows: the non-dominated ones first, then by summed per-column rank.

    Losses: smaller is better. The non-dominated rows are ordered by the same rank sum, so the
    choice is deterministic; one Pareto pass keeps it cheap on thousands of rows.
    """
    from nas.search.pareto import pareto_mask

    losses = np.asarray(losses, dtype=float).reshape(len(losses), -1)
    if len(losses) == 0 or k < 1:
        return np.zeros(0, dtype=int)
    ranks = np.argsort(np.argsort(losses, axis=0, kind="stable"), axis=0, kind="stable").sum(axis=1)
    order = np.lexsort((ranks, ~pareto_mask(losses)))
    return order[:k]


def local_pool(space: SearchSpace, score: Callable[[Sequence[Arch]], np.ndarray], parents: Sequence[Arch],
               rng: np.random.Generator, children: int = 512, generations: int = 2, elite: int = 16) -> list[Arch]:
    """A predictor-only local search around ``parents``; returns every distinct architecture it scored.

    Each generation adds the neighbours of the current elite and ``children`` crossovers of it,
    scores the new architectures in one call, and keeps the ``elite`` best-predicted (see
    :func:`elite_rows`) as the next generation's parents.

    Args:
        space: The space.
        score: Maps architectures to ``(n, k)`` losses to minimise (e.g. optimistic predictions).
        parents: Where to start (e.g. the measured front and a uniform sample's best).
        rng: Draws the crossovers.
        children: Crossovers per generation.
        generations: Rounds of expansion.
        elite: Parents kept per generation.
    """
    if children < 0 or generations < 1 or elite < 1:
        raise ValueError(f"`children` must be >= 0, `generations` and `elite` >= 1, got {children}, {generations}, {elite}")
    found: dict[str, Arch] = {}
    for a in parents:
        found.setdefault(a.arch_id, a)
    ids, losses = list(found), list(np.asarray(score(list(found.values())), dtype=float).reshape(len(found), -1))
    current = list(found.values())
    for _ in range(generations):
        new: dict[str, Arch] = {}
        for a in [n for a in current[:elite] for n in neighbours(space, a)] + crossovers(space, current, children, rng):
            key = a.arch_id
            if key not in found and key not in new:
                new[key] = a
        if new:
            found.update(new)
            ids.extend(new)
            losses.extend(np.asarray(score(list(new.values())), dtype=float).reshape(len(new), -1))
        current = [found[ids[i]] for i in elite_rows(np.vstack(losses), elite)]
    return list(found.values())


def inner_search(space: SearchSpace, score: Callable[[Sequence[Arch]], np.ndarray], n_objectives: int,
                 trials: int, population: int, seed: int) -> list[Arch]:
    """A predictor-only NSGA-II search; returns every distinct architecture it visited.

    Args:
        space: The space.
        score: Maps architectures to ``(n, n_objectives)`` losses to minimise (predictions).
        n_objectives: Number of columns ``score`` returns.
        trials: Total trials (rounded up to whole generations).
        population: NSGA-II population (one generation is scored at a time).
        seed: Sampler seed.
    """
    if trials < 1 or population < 2:
        raise ValueError(f"`inner_trials` must be >= 1 and `inner_population` >= 2, got {trials} and {population}")
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(directions=["minimize"] * n_objectives, sampler=sampler)
    # Asking with every distribution at once samples the whole architecture in one call:
    # per-parameter ``suggest_*`` calls cost several times more in Optuna's bookkeeping.
    dists = {c.label: optuna.distributions.CategoricalDistribution(list(c.options)) for c in space.choices}
    found: dict[str, Arch] = {}
    for _ in range(-(-trials // population)):
        batch = [study.ask(dists) for _ in range(population)]
        archs = [space.make(t.params) for t in batch]
        losses = np.asarray(score(archs), dtype=float).reshape(len(archs), n_objectives)
        for t, a, row in zip(batch, archs, losses):
            study.tell(t, [float(v) for v in row])
            found.setdefault(a.arch_id, a)
    return list(found.values())
