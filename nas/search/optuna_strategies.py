"""Plain Optuna strategies: NSGA-II, NSGA-III, multi-objective TPE, GP and random sampling."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from nas.registry import Registry
from nas.search.base import Proposal, Strategy

__all__ = ["OptunaStrategy", "STRATEGIES", "make_strategy"]


class OptunaStrategy(Strategy):
    """Proposes architectures with an Optuna sampler over the space's fixed set of choices.

    Args:
        sampler_name: One of ``nsga2``, ``nsga3``, ``tpe``, ``gp``, ``random``.
        seed: Sampler seed.
        population_size: Population of the genetic samplers.

    Constraints reach the samplers through ``Trial.set_constraint`` (set by the loop before each
    ``tell``), which NSGA-II/III, TPE and GP read.
    """

    def __init__(self, sampler_name: str, seed: int, population_size: int = 20) -> None:
        super().__init__(seed)
        self.name = sampler_name
        self.population_size = population_size

    def make_sampler(self) -> optuna.samplers.BaseSampler:  # noqa: D102
        s = optuna.samplers
        if self.name == "nsga2":
            return s.NSGAIISampler(population_size=self.population_size, seed=self.seed)
        if self.name == "nsga3":
            return s.NSGAIIISampler(population_size=self.population_size, seed=self.seed)
        if self.name == "tpe":
            return s.TPESampler(seed=self.seed, multivariate=True, constant_liar=True)
        if self.name == "gp":
            return s.GPSampler(seed=self.seed)
        if self.name == "random":
            return s.RandomSampler(seed=self.seed)
        raise ValueError(f"`sampler_name` must be one of nsga2, nsga3, tpe, gp, random, got {self.name!r}")

    def ask(self, n: int) -> list[Proposal]:  # noqa: D102
        study, space = self._require_bound()
        out = []
        for _ in range(n):
            trial = study.ask()
            out.append(Proposal(trial, space.suggest(trial)))
        return out


StrategyFactory = Callable[[int, int], Strategy]
STRATEGIES: Registry[StrategyFactory] = Registry("strategy")
for _name in ("nsga2", "nsga3", "tpe", "gp", "random"):
    STRATEGIES.add(_name, lambda seed, pop, _n=_name: OptunaStrategy(_n, seed, pop))


def make_strategy(name: str, seed: int, population_size: int = 20) -> Strategy:
    """Builds a registered strategy by name.

    Raises:
        ConfigError: naming ``strategy`` and the registered names.
    """
    return STRATEGIES.get(name, "strategy")(seed, population_size)
