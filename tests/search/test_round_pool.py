"""The pool a predictor round scores on a large space: uniform rows first, nothing taken, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from nas.search.round_pool import MAX_REFERENCE_SAMPLE, searched_pool, uniform_sample
from nas.space import Choice, SearchSpace

SPACE = SearchSpace("big", [Choice(f"x{i}", tuple(range(8))) for i in range(5)])


def _encode(arch):
    return np.array([float(arch[f"x{i}"]) for i in range(5)])


def _optimistic(X):  # predicted losses: accuracy grows with the sum, cost with it too
    return np.stack([-X.sum(axis=1), X.sum(axis=1) + 2 * np.ptp(X, axis=1)], axis=1)


@pytest.mark.parametrize("inner", ["local", "nsga2"])
def test_pool_is_seeded_skips_taken_and_starts_with_the_uniform_sample(inner):
    front = [SPACE.make({f"x{i}": 3 for i in range(5)})]
    taken = {front[0].arch_id}
    kw = dict(inner=inner, inner_trials=200, inner_population=20)
    archs, X, ref_rows = searched_pool(SPACE, _encode, _optimistic, front, taken, 0, 1, **kw)
    again, _, _ = searched_pool(SPACE, _encode, _optimistic, front, taken, 0, 1, **kw)
    other, _, _ = searched_pool(SPACE, _encode, _optimistic, front, taken, 0, 2, **kw)
    assert [a.arch_id for a in archs] == [a.arch_id for a in again] != [a.arch_id for a in other]
    assert len({a.arch_id for a in archs}) == len(archs) and not taken & {a.arch_id for a in archs}
    assert len(ref_rows) <= MAX_REFERENCE_SAMPLE < len(archs) and ref_rows.tolist() == list(range(len(ref_rows)))
    np.testing.assert_array_equal(X, np.vstack([_encode(a) for a in archs]))
    # the front's neighbours are all in the pool
    assert sum(sum(a[f"x{i}"] != 3 for i in range(5)) == 1 for a in archs) == 5 * 7


def test_a_kept_uniform_sample_gives_the_pool_drawn_afresh():
    front = [SPACE.make({f"x{i}": 3 for i in range(5)})]
    kept = uniform_sample(SPACE, _encode, 4)
    archs, X, ref_rows = searched_pool(SPACE, _encode, _optimistic, front, set(), 4, 3)
    again, X2, ref2 = searched_pool(SPACE, _encode, _optimistic, front, set(), 4, 3, uniform=kept)
    assert [a.arch_id for a in archs] == [a.arch_id for a in again] and ref_rows.tolist() == ref2.tolist()
    np.testing.assert_array_equal(X, X2)
    assert [a.arch_id for a in kept[0]] != [a.arch_id for a in uniform_sample(SPACE, _encode, 5)[0]]


def test_unknown_inner_search_is_named():
    with pytest.raises(ValueError, match="`inner` must be one of"):
        searched_pool(SPACE, _encode, _optimistic, [], set(), 0, 1, inner="cmaes")
