"""A toy space with known metrics and an in-memory search loop for the strategy tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import optuna
import pytest

from nas.execution.local import LocalExecutor
from nas.search.base import Strategy
from nas.search.budget import Budget, Spent
from nas.search.loop import SearchLoop
from nas.search.objectives import Constraint, parse_constraint, parse_objectives
from nas.space import Arch, Choice, SearchSpace

OBJECTIVES = parse_objectives("accuracy:max,latency_ms:min")


def toy_space() -> SearchSpace:
    """256 architectures: accuracy grows with ``a`` and agreement of ``a`` and ``b``, latency with both."""
    return SearchSpace("toy", [Choice("a", tuple(range(8))), Choice("b", tuple(range(8))), Choice("c", (0, 1, 2, 3))])


class ToyEvaluator:
    """Known metrics; architectures whose ``a`` is in ``fail_a`` raise."""

    def __init__(self, fail_a: Sequence[int] = ()) -> None:
        self.fail_a = set(fail_a)
        self.calls: list[str] = []

    def evaluate(self, arch: Arch, seed: int) -> dict[str, float]:
        self.calls.append(arch.arch_id)
        a, b, c = int(arch["a"]), int(arch["b"]), int(arch["c"])
        if a in self.fail_a:
            raise RuntimeError(f"scripted failure of a={a}")
        return {"accuracy": 50.0 + 5.0 * a - 0.5 * (a - b) ** 2 + c, "latency_ms": a + b + 0.5 * c}


class MemoryRecorder:
    """Rows and the last checkpoint, in memory (the checkpoint goes through JSON like the store's)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}

    def record(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def checkpoint(self, strategy_state: dict[str, Any], spent: Spent) -> None:
        self.state = json.loads(json.dumps(strategy_state))


def run_loop(strategy: Strategy, budget: int, constraints: Sequence[str] = (), evaluator: ToyEvaluator | None = None,
             study: optuna.Study | None = None, space: SearchSpace | None = None) -> tuple[optuna.Study, MemoryRecorder]:
    """Binds ``strategy`` to a fresh in-memory study (or ``study``) and runs the loop for ``budget`` evaluations."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = space or toy_space()
    cons: tuple[Constraint, ...] = tuple(parse_constraint(c) for c in constraints)
    study = study or optuna.create_study(directions=[o.direction for o in OBJECTIVES], sampler=strategy.make_sampler())
    strategy.bind(study, space, OBJECTIVES, cons)
    rec = MemoryRecorder()
    loop = SearchLoop(study, space, strategy, LocalExecutor(evaluator or ToyEvaluator()), OBJECTIVES, cons,
                      Budget(evaluations=budget), rec, seed=0)
    loop.run()
    return study, rec


@pytest.fixture
def space() -> SearchSpace:
    return toy_space()
