"""PredictorStrategy behaviour: seeded, no repeats, budget and constraints, exact checkpoint/restore."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from nas.errors import ConfigError
from nas.search import STRATEGIES, PredictorStrategy, make_strategy
from nas.search.objectives import parse_constraint
from nas.search.pareto import hypervolume, pareto_mask
from tests.search.conftest import OBJECTIVES, ToyEvaluator, run_loop, toy_space


def _ids(rec):
    return [r["arch_id"] for r in rec.rows]


def _strategy(seed=0, **kw):
    """Small initial population; ridge for accuracy too, to keep the tests fast."""
    return PredictorStrategy(seed, n_initial=6, **({"models": {"maximize": "ridge"}} | kw))


def test_same_seed_same_search_and_never_a_repeat():
    _, a = run_loop(_strategy(3), budget=14)
    _, b = run_loop(_strategy(3), budget=14)
    _, c = run_loop(_strategy(4), budget=14)
    assert _ids(a) == _ids(b) and _ids(a) != _ids(c)
    assert len(a.rows) == 14 and len(set(_ids(a))) == 14 and all(r["state"] == "complete" for r in a.rows)


def _hv_ratio(rows):
    space, ev = toy_space(), ToyEvaluator()
    every = [ev.evaluate(a, 0) for a in space.enumerate()]
    losses = np.array([[-m["accuracy"], m["latency_ms"]] for m in every])
    ref = np.median(losses, axis=0)  # the tight reference point of DESIGN §5
    found = np.array([[-r["accuracy"], r["latency_ms"]] for r in rows])
    return hypervolume(found, ref) / hypervolume(losses[pareto_mask(losses)], ref)


def test_it_finds_more_of_the_front_than_random_search_with_the_same_budget():
    _, guided = run_loop(PredictorStrategy(0, n_initial=6), budget=20)  # the default models
    _, random = run_loop(make_strategy("random", seed=0), budget=20)
    assert _hv_ratio(guided.rows) >= 0.6 and _hv_ratio(guided.rows) > _hv_ratio(random.rows) + 0.2


def test_constraints_steer_proposals_to_the_feasible_region():
    _, rec = run_loop(_strategy(1), budget=24, constraints=["latency_ms<=5"])
    feasible = [r["feasible"] for r in rec.rows[6:]]  # after the initial population
    # uniformly, P(a + b + c/2 <= 5) is about 0.28; a ridge model of latency is exact here
    assert np.mean(feasible) >= 0.6
    assert all(r["violation"] == pytest.approx(r["latency_ms"] - 5) for r in rec.rows)


def test_failed_architectures_are_never_proposed_again():
    ev = ToyEvaluator(fail_a=(0, 7))
    _, rec = run_loop(_strategy(2), budget=18, evaluator=ev)
    assert len(ev.calls) == len(set(ev.calls))  # nothing evaluated twice, failures included
    done = [r for r in rec.rows if r["state"] == "complete"]
    assert len(done) == 18 and any(r["state"] == "failed" for r in rec.rows)


def _continue(state, study, space, n):
    """A fresh strategy (another constructor seed) restored from ``state`` asks ``n``."""
    restored = _strategy(999)
    restored.bind(study, space, OBJECTIVES, ())
    restored.load_state_dict(json.loads(json.dumps(state)))
    return [p.arch.arch_id for p in restored.ask(n)]


@pytest.mark.parametrize("budget", [13, 14])  # mid-batch and at a round boundary (batches of 2)
def test_a_restored_checkpoint_proposes_the_same_next_batch(budget):
    space = toy_space()
    original = _strategy(5)
    study, rec = run_loop(original, budget=budget)
    state = original.state_dict()
    nxt = [p.arch.arch_id for p in original.ask(3)]
    assert _continue(state, study, space, 3) == nxt
    assert not set(nxt) & set(_ids(rec))


def test_a_proposal_interrupted_by_a_kill_is_proposed_again_first():
    space = toy_space()
    original = _strategy(6)
    study, rec = run_loop(original, budget=12)
    (lost,) = original.ask(1)
    state = original.state_dict()  # checkpointed with the proposal in flight, then SIGKILL
    lost.trial.set_user_attr("interrupted", True)
    study.tell(lost.trial, state=optuna.trial.TrialState.FAIL)  # what `reconcile` does on resume
    assert _continue(state, study, space, 1) == [lost.arch.arch_id]


@pytest.mark.parametrize("inner", ["local", "nsga2"])
def test_a_large_space_is_searched_on_the_predictors_without_enumerating_it(inner):
    space = toy_space()
    s = _strategy(7, pool_limit=100, inner=inner, inner_trials=120, inner_population=20)
    _, rec = run_loop(s, budget=12, space=space)
    _, again = run_loop(_strategy(7, pool_limit=100, inner=inner, inner_trials=120, inner_population=20), budget=12, space=space)
    assert len(set(_ids(rec))) == 12 and s._pool is None and _ids(rec) == _ids(again)


@pytest.mark.parametrize("kw, param", [({"cap_quantile": 0.0}, "cap_quantile"), ({"init": "grid"}, "init"),
                                       ({"n_initial": 1}, "n_initial"), ({"std_scale": -1}, "std_scale"),
                                       ({"max_batch": 0}, "batch_schedule"), ({"inner": "cmaes"}, "inner")])
def test_bad_settings_name_the_parameter(kw, param):
    with pytest.raises(ConfigError, match=f"`{param}` must"):
        PredictorStrategy(0, **kw)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_runs_through_the_loop_with_budget_and_constraints(name):
    strategy = make_strategy(name, seed=0, population_size=4)
    assert isinstance(strategy, PredictorStrategy) == (name == "predictor")
    study, rec = run_loop(strategy, budget=8, constraints=["latency_ms<=9"])
    done = [r for r in rec.rows if r["state"] == "complete"]
    assert len(done) == 8 and len(set(_ids(rec))) == 8
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 8
    c = parse_constraint("latency_ms<=9")
    assert all(t.user_attrs["constraints"] == [c.violation({"latency_ms": t.values[1]})] for t in complete)


def test_proposals_after_the_first_fit_record_their_predictions_in_the_trial_rows():
    _, rec = run_loop(_strategy(2), budget=16)
    initial, modelled = rec.rows[:6], rec.rows[6:]
    assert not any(k.startswith("predicted_") for r in initial for k in r)  # nothing was fitted yet
    for r in modelled:
        for m in ("accuracy", "latency_ms"):
            assert np.isfinite(r[f"predicted_{m}"]) and np.isfinite(r[f"predicted_{m}_std"])
            assert r[f"predicted_{m}_std"] >= 0
    # the toy latency is linear in the one-hot choices: the ridge predictor gets it nearly right
    errors = [abs(r["predicted_latency_ms"] - r["latency_ms"]) for r in modelled]
    assert np.median(errors) < 1.0
    assert np.corrcoef([r["predicted_accuracy"] for r in modelled], [r["accuracy"] for r in modelled])[0, 1] > 0


def test_predictions_of_a_pending_batch_survive_a_checkpoint():
    space = toy_space()
    original = _strategy(5, batch_schedule=((50, 2),))
    study, _ = run_loop(original, budget=13)  # mid-batch: one planned arch still pending
    state = json.loads(json.dumps(original.state_dict()))
    assert state["predicted"]
    restored = _strategy(999, batch_schedule=((50, 2),))
    restored.bind(study, space, OBJECTIVES, ())
    restored.load_state_dict(state)
    again = restored.ask(1)[0]
    first = original.ask(1)[0]
    assert again.arch.arch_id == first.arch.arch_id and again.predicted == first.predicted and first.predicted
