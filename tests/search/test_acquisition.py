"""Acquisition math: closed forms against brute force, and the greedy Kriging-believer batch."""

from __future__ import annotations

import numpy as np
import pytest

from nas.search.acquisition import acquisition, ehvi, expected_shortfall, hvi_optimistic, select_batch
from nas.search.pareto import hypervolume

FRONT = np.array([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0]])
REF = np.array([5.0, 5.0])


def test_expected_shortfall_matches_monte_carlo_and_the_deterministic_limit():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, 400_000)
    assert expected_shortfall(2.0, np.array([1.0]), np.array([2.0]))[0] == pytest.approx(np.maximum(2.0 - x, 0).mean(), rel=1e-2)
    assert expected_shortfall(2.0, np.array([1.0, 3.0]), np.zeros(2)).tolist() == [1.0, 0.0]


def test_ehvi_with_zero_std_is_the_exact_hypervolume_improvement():
    points = np.array([[3.0, 1.5], [0.5, 0.5], [4.5, 4.5], [6.0, 0.0], [2.0, 2.0]])
    base = hypervolume(FRONT, REF)
    want = [hypervolume(np.vstack([FRONT, p]), REF) - base for p in points]
    got = ehvi(points, np.zeros_like(points), FRONT, REF)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got[1] > got[0] > 0 and got[3] == 0 and got[4] == 0  # beyond ref / dominated: nothing


def test_ehvi_matches_monte_carlo_with_uncertainty():
    rng = np.random.default_rng(1)
    mean, std = np.array([[2.5, 2.5]]), np.array([[0.8, 0.5]])
    samples = mean + std * rng.standard_normal((4_000, 2))
    base = hypervolume(FRONT, REF)
    mc = np.mean([hypervolume(np.vstack([FRONT, s]), REF) - base for s in samples])
    assert ehvi(mean, std, FRONT, REF)[0] == pytest.approx(mc, rel=0.06)


def test_ehvi_on_an_empty_front_is_the_expected_box_below_the_reference():
    got = ehvi(np.array([[1.0, 2.0]]), np.zeros((1, 2)), np.empty((0, 2)), REF)
    assert got[0] == pytest.approx(4.0 * 3.0)


def test_optimistic_hvi_in_three_objectives_and_one_objective_ei():
    front = np.array([[1.0, 1.0, 1.0]])
    ref = np.array([2.0, 2.0, 2.0])
    got = hvi_optimistic(np.array([[0.5, 0.5, 0.5], [1.5, 1.5, 1.5]]), np.zeros((2, 3)), front, ref)
    assert got.tolist() == pytest.approx([1.5**3 - 1.0, 0.0])
    ei = acquisition(np.array([[1.0], [3.0]]), np.zeros((2, 1)), np.array([[2.0]]), np.array([5.0]))
    assert ei.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="`mean` and `std`"):
        acquisition(np.zeros((3, 2)), np.zeros((2, 2)), FRONT, REF)


def test_select_batch_spreads_along_the_front_and_honours_weights():
    # two near-identical candidates at one spot and one elsewhere: the believer picks both spots
    mean = np.array([[1.5, 1.5], [1.51, 1.51], [3.0, 0.5]])
    std = np.zeros_like(mean)
    picks = select_batch(mean, std, FRONT, REF, q=2)
    assert picks == [0, 2]
    assert select_batch(mean, std, FRONT, REF, q=2, weight=np.array([0.0, 0.0, 1.0]))[0] == 2
    assert sorted(select_batch(mean, std, FRONT, REF, q=5)) == [0, 1, 2]  # never more than n, distinct
    with pytest.raises(ValueError, match="`q`"):
        select_batch(mean, std, FRONT, REF, q=0)


def test_select_batch_draws_from_its_generator_when_nothing_improves():
    mean = np.full((50, 2), 10.0)  # all beyond the reference point
    a = select_batch(mean, np.zeros_like(mean), FRONT, REF, 3, rng=np.random.default_rng(7))
    b = select_batch(mean, np.zeros_like(mean), FRONT, REF, 3, rng=np.random.default_rng(7))
    assert a == b and len(set(a)) == 3


def _greedy_by_rescoring_everything(mean, std, front, ref, q, weight):
    picks, alive = [], np.ones(len(mean), dtype=bool)
    for _ in range(q):
        score = np.where(alive, acquisition(mean, std, front, ref) * weight, -np.inf)
        best = int(np.argmax(score))
        picks.append(best)
        alive[best] = False
        if weight[best] >= 0.5:
            front = np.vstack([front, mean[best]])
    return picks


@pytest.mark.parametrize("k", [1, 2, 3])
def test_lazy_greedy_batch_equals_rescoring_every_candidate(k):
    rng = np.random.default_rng(k)
    mean = rng.uniform(0, 5, (3000, k))
    std = rng.uniform(0, 0.5, (3000, k))
    weight = rng.uniform(0.3, 1.0, 3000)
    front, ref = rng.uniform(1, 5, (6, k)), np.full(k, 5.0)
    want = _greedy_by_rescoring_everything(mean, std, front, ref, 12, weight)
    got = select_batch(mean, std, front, ref, 12, weight)
    assert got == want and len(set(got)) == 12


def test_a_candidate_predicted_beyond_the_front_beats_a_dominated_one_and_a_batch_spreads():
    # one candidate dominates the front's middle, one is dominated by it, the rest cluster at one spot
    mean = np.array([[1.5, 1.5], [3.0, 3.0], *([[3.2, 0.6]] * 5)])
    std = np.full_like(mean, 0.2)
    score = acquisition(mean, std, FRONT, REF)
    assert score[0] > 10 * score[1]
    picks = select_batch(mean, std, FRONT, REF, 3)
    assert picks[0] == 0 and picks[1] in range(2, 7) and len(set(picks)) == 3
