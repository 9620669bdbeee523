"""The search: strategies (ask/tell), the loop, budgets, objectives and Pareto utilities."""

from nas.search.base import Proposal, Strategy
from nas.search.budget import Budget, Spent, parse_budget
from nas.search.loop import SearchLoop, reconcile
from nas.search.objectives import Constraint, Objective, parse_constraint, parse_objectives
from nas.search.optuna_strategies import STRATEGIES, OptunaStrategy, make_strategy
from nas.search.pareto import hypervolume, pareto_mask
from nas.search.predictor_strategy import PredictorStrategy  # registers the `predictor` strategy

__all__ = [
    "Proposal", "Strategy", "Budget", "Spent", "parse_budget", "SearchLoop", "reconcile",
    "Constraint", "Objective", "parse_constraint", "parse_objectives", "STRATEGIES",
    "OptunaStrategy", "make_strategy", "hypervolume", "pareto_mask", "PredictorStrategy",
]
