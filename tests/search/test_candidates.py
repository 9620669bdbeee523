"""Where the predictor strategy finds candidates: initial designs, neighbours, crossovers, the local pool, the inner NSGA-II."""

from __future__ import annotations

import numpy as np
import pytest

from nas.search.candidates import crossovers, elite_rows, initial_design, inner_search, local_pool, neighbours


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


def _big():
    from nas.space import Choice, SearchSpace

    return SearchSpace("big", [Choice(f"x{i}", tuple(range(8))) for i in range(5)])


def _spread_score(archs):  # two conflicting predicted losses; the front is where every x is equal
    v = np.array([[x[f"x{i}"] for i in range(5)] for x in archs], float)
    spread = v.max(axis=1) - v.min(axis=1)
    return np.stack([-v.sum(axis=1) + 3 * spread, v.sum(axis=1) + 3 * spread], axis=1)


def test_crossover_children_take_each_choice_from_a_parent_but_one():
    big = _big()
    a, b = big.make({f"x{i}": 0 for i in range(5)}), big.make({f"x{i}": 7 for i in range(5)})
    kids = crossovers(big, [a, b], 200, np.random.default_rng(3))
    assert [k.arch_id for k in kids] == [k.arch_id for k in crossovers(big, [a, b], 200, np.random.default_rng(3))]
    foreign = [sum(k[f"x{i}"] not in (0, 7) for i in range(5)) for k in kids]
    assert max(foreign) <= 1 and 0 < np.mean(foreign) < 1  # the one mutation may land on a parent's option
    assert {k[f"x{i}"] for k in kids for i in range(5)} >= {0, 7} and crossovers(big, [], 5, np.random.default_rng(0)) == []


def test_elite_rows_take_whole_non_dominated_layers_first():
    losses = np.array([[3.0, 3.0], [1.0, 2.0], [2.0, 1.0], [2.5, 2.5], [0.5, 4.0]])
    assert sorted(elite_rows(losses, 3).tolist()) == [1, 2, 4]
    assert elite_rows(losses, 4).tolist()[-1] == 3 and len(elite_rows(losses, 10)) == 5


def test_local_pool_climbs_from_random_parents_to_the_predicted_front():
    big = _big()
    rng = np.random.default_rng(5)
    parents = [big.sample(rng) for _ in range(8)]
    pool = local_pool(big, _spread_score, parents, np.random.default_rng(1), children=200, generations=3, elite=8)
    again = local_pool(big, _spread_score, parents, np.random.default_rng(1), children=200, generations=3, elite=8)
    assert [x.arch_id for x in pool] == [x.arch_id for x in again] and len({x.arch_id for x in pool}) == len(pool)
    best = [pool[i] for i in elite_rows(_spread_score(pool), 8)]
    spread = lambda archs: np.mean([np.ptp([x[f"x{i}"] for i in range(5)]) for x in archs])  # noqa: E731
    assert spread(parents) > 3 and spread(best) <= 1.5  # the elite of the pool sits near the front (spread 0)
    with pytest.raises(ValueError, match="`children`"):
        local_pool(big, _spread_score, parents, np.random.default_rng(0), generations=0)
