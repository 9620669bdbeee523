"""Where the predictor strategy finds candidates: initial designs, neighbours, the inner NSGA-II."""

from __future__ import annotations

import numpy as np
import pytest

from nas.search.candidates import initial_design, inner_search, neighbours


@pytest.mark.parametrize("method", ["sobol", "random"])
def test_initial_design_is_seeded_distinct_and_skips_excluded(space, method):
    a = initial_design(space, 12, np.random.default_rng(3), method)
    b = initial_design(space, 12, np.random.default_rng(3), method)
    assert [x.arch_id for x in a] == [x.arch_id for x in b]
    assert len({x.arch_id for x in a}) == 12
    excluded = {x.arch_id for x in a[:6]}
    c = initial_design(space, 12, np.random.default_rng(3), method, exclude=excluded)
    assert len(c) == 12 and not excluded & {x.arch_id for x in c}


def test_sobol_design_covers_every_option_of_every_choice(space):
    design = initial_design(space, 16, np.random.default_rng(0), "sobol")
    for choice in space.choices:
        assert {x[choice.label] for x in design} == set(choice.options)


def test_initial_design_rejects_an_unknown_method(space):
    with pytest.raises(ValueError, match="`init` must be one of"):
        initial_design(space, 4, np.random.default_rng(0), "grid")


def test_neighbours_differ_in_exactly_one_choice(space):
    arch = space.make({"a": 2, "b": 3, "c": 1})
    near = neighbours(space, arch)
    assert len(near) == 7 + 7 + 3
    for other in near:
        assert sum(arch[c.label] != other[c.label] for c in space.choices) == 1


def test_inner_search_moves_towards_the_predicted_front():
    from nas.space import Choice, SearchSpace

    big = SearchSpace("big", [Choice(f"x{i}", tuple(range(8))) for i in range(5)])

    def score(archs):  # two conflicting predicted losses; the front is where every x is equal
        v = np.array([[x[f"x{i}"] for i in range(5)] for x in archs], float)
        spread = v.max(axis=1) - v.min(axis=1)
        return np.stack([-v.sum(axis=1) + 3 * spread, v.sum(axis=1) + 3 * spread], axis=1)

    found = inner_search(big, score, 2, trials=360, population=30, seed=1)
    again = inner_search(big, score, 2, trials=360, population=30, seed=1)
    assert [x.arch_id for x in found] == [x.arch_id for x in again]
    assert len({x.arch_id for x in found}) == len(found) > 30
    spread = [np.ptp([x[f"x{i}"] for i in range(5)]) for x in found]
    # uniform sampling gives a mean spread near 5; the last discoveries are offspring of a better front
    assert np.mean(spread[:30]) > 4 and np.mean(spread[-30:]) < np.mean(spread[:30]) - 1.0
    with pytest.raises(ValueError, match="`inner_population`"):
        inner_search(big, score, 2, trials=10, population=1, seed=0)
