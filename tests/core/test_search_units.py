"""Budget, objectives, constraints, Pareto fronts and hypervolume."""

from __future__ import annotations

import numpy as np
import pytest

from nas.errors import ConfigError
from nas.search.budget import Budget, Spent, parse_budget
from nas.search.objectives import Objective, parse_constraint, parse_objectives
from nas.search.pareto import hypervolume, hypervolume_history, pareto_mask, reference_point, to_losses


@pytest.mark.parametrize("text, evals, seconds", [("300", 300, None), (40, 40, None), ("10m", None, 600.0),
                                                   ("90s", None, 90.0), ("1.5h", None, 5400.0)])
def test_parse_budget(text, evals, seconds):
    b = parse_budget(text)
    assert (b.evaluations, b.seconds) == (evals, seconds)


@pytest.mark.parametrize("text", ["-3", "0", "0m", "abc", "10x", True, 2.5])
def test_parse_budget_rejects(text):
    with pytest.raises(ConfigError, match="`budget` must"):
        parse_budget(text)


def test_budget_exhaustion_says_why():
    b = Budget(evaluations=3, seconds=10)
    assert b.exhausted(Spent(evaluations=2, seconds=5)) is None
    assert "evaluation budget" in b.exhausted(Spent(evaluations=3))
    assert "time budget" in b.exhausted(Spent(evaluations=0, seconds=11))
    assert Spent.from_dict(Spent(evaluations=4, train_s=2.0).to_dict()) == Spent(evaluations=4, train_s=2.0)


def test_objectives_and_constraints():
    objs = parse_objectives("accuracy:max,latency_ms:min")
    assert objs == (Objective("accuracy", "maximize"), Objective("latency_ms", "minimize"))
    c = parse_constraint("latency_ms<=2.5")
    assert c.violation({"latency_ms": 2.0}) == pytest.approx(-0.5)
    assert parse_constraint("accuracy>=90").violation({"accuracy": 80}) == pytest.approx(10)
    with pytest.raises(ConfigError, match="once"):
        parse_objectives("accuracy:max,accuracy:min")
    with pytest.raises(ConfigError, match="metrics among"):
        parse_objectives("foo:min", metrics=("accuracy",))


@pytest.mark.parametrize("k", [2, 3])
def test_pareto_mask_equals_the_pairwise_definition(k):
    rng = np.random.default_rng(k)
    for _ in range(100):  # small integer grids: many ties and duplicates
        losses = rng.integers(0, 5, (int(rng.integers(1, 30)), k)).astype(float)
        dominated = [any(np.all(q <= p) and np.any(q < p) for q in losses) for p in losses]
        assert pareto_mask(losses).tolist() == [not d for d in dominated]


def test_pareto_mask_and_hypervolume_2d():
    objs = parse_objectives("accuracy:max,latency_ms:min")
    values = np.array([[90, 2.0], [95, 3.0], [85, 2.5], [95, 3.0], [80, 1.0]])
    losses = to_losses(values, objs)
    mask = pareto_mask(losses)
    assert mask.tolist() == [True, True, False, True, True]
    ref = np.array([-70.0, 4.0])
    # boxes: (-80,1)->(10*3), (-90,2)->(10*2 extra), (-95,3)->(5*1 extra) = 30 + 20 + 5
    assert hypervolume(losses, ref) == pytest.approx(55.0)
    hist = hypervolume_history(losses, ref)
    assert np.all(np.diff(hist) >= 0) and hist[-1] == pytest.approx(55.0)
    assert np.all(reference_point(losses) >= losses.max(axis=0))


def test_hypervolume_3d_matches_a_hand_computed_box():
    losses = np.array([[0.0, 0.0, 0.0]])
    assert hypervolume(losses, np.array([1.0, 2.0, 3.0])) == pytest.approx(6.0)
    two = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    # union of [0,1]x[0,1]x[1,2]... boxes: 1*1*1 + 1*1*2 - overlap 1*1*1... computed: 2 + 2 - 1 = 3
    assert hypervolume(two, np.array([1.0, 2.0, 2.0])) == pytest.approx(3.0)
