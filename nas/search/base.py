"""The :class:`Strategy` contract: ask/tell, driven by the search loop (Optuna ``ask``/``tell``).

Call sequence (see :func:`nas.search.loop.run_search`)::

    strategy.bind(study, space, objectives, constraints)   # once per process (also on resume)
    loop:
        proposals = strategy.ask(n)                         # trials created in the study
        ... evaluate on the executor ...
        strategy.tell(proposal, metrics_or_None)            # after the loop told the study
    strategy.state_dict()                                   # checkpointed with the run

Every strategy records its proposals as trials of one Optuna study, so the study holds every
evaluation whatever proposed it. Samplers are made by :meth:`Strategy.make_sampler`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from nas.search.objectives import Constraint, Objective
from nas.space import Arch, SearchSpace

__all__ = ["Proposal", "Strategy", "CONSTRAINTS_ATTR"]

CONSTRAINTS_ATTR = "constraints"


@dataclass(frozen=True)
class Proposal:
    """An architecture proposed for evaluation, with the study trial that records it.

    ``predicted`` holds what the strategy predicted for it, recorded in its trial row
    (``predicted_<metric>`` and ``predicted_<metric>_std``); empty when nothing was predicted.
    """

    trial: optuna.trial.Trial
    arch: Arch
    predicted: Mapping[str, float] = field(default_factory=dict)

    @property
    def number(self) -> int:
        """The study's trial number."""
        return self.trial.number


class Strategy(ABC):
    """Base class of search strategies.

    Subclasses implement :meth:`ask`; hooks :meth:`tell`, :meth:`state_dict` and
    :meth:`load_state_dict` do nothing by default.

    Args:
        seed: Seed of the strategy's own generators (derive from the run seed).
    """

    name = "base"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.study: optuna.Study | None = None
        self.space: SearchSpace | None = None
        self.objectives: tuple[Objective, ...] = ()
        self.constraints: tuple[Constraint, ...] = ()

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        """The Optuna sampler the study is created or loaded with (random by default)."""
        return optuna.samplers.RandomSampler(seed=self.seed)

    def bind(self, study: optuna.Study, space: SearchSpace, objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> None:
        """Attaches the strategy to the run's study and space (called before any ask)."""
        self.study, self.space = study, space
        self.objectives, self.constraints = tuple(objectives), tuple(constraints)

    @abstractmethod
    def ask(self, n: int) -> list[Proposal]:
        """Proposes up to ``n`` architectures as new trials of the study."""

    def tell(self, proposal: Proposal, metrics: dict[str, float] | None) -> None:
        """Hook called after the loop told the study (``None`` metrics: the evaluation failed)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state to checkpoint with the run."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`."""

    def _require_bound(self) -> tuple[optuna.Study, SearchSpace]:
        if self.study is None or self.space is None:
            raise RuntimeError(f"strategy `{self.name}` must be bound to a study before ask()")
        return self.study, self.space
