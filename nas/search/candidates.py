"""Where a predictor-guided search finds candidates: seeded designs, neighbours, an inner search.

- :func:`initial_design`: a seeded scrambled-Sobol (or uniform random) set of distinct
  architectures, the population evaluated before any predictor is fitted;
- :func:`neighbours`: every architecture one choice away from a given one;
- :func:`inner_search`: an in-memory Optuna NSGA-II study over *predicted* losses (no
  evaluation): whole generations are asked, scored in one vectorised call, and told.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import optuna

from nas.space import Arch, SearchSpace

__all__ = ["initial_design", "neighbours", "inner_search", "INIT_METHODS", "MAX_DESIGN_TRIES"]

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
