"""BufferedStorage: a running trial's writes reach the database in one flush, and nothing else changes."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from nas.search import make_strategy
from nas.search.claims import open_study
from nas.search.study_buffer import BufferedStorage, flush_trial
from tests.search.conftest import run_loop, toy_space


def _db_trial(url: str, number: int) -> optuna.trial.FrozenTrial:
    """The trial as another process reads it from the database."""
    return optuna.load_study(study_name="s", storage=url).trials[number]


def test_writes_wait_in_memory_until_the_flush_and_the_tell(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study(url, "s", ["maximize", "minimize"], optuna.samplers.RandomSampler(seed=0))
    assert isinstance(study._storage, BufferedStorage)
    trial = study.ask()
    a = trial.suggest_categorical("a", [1, 2, 3])
    trial.set_user_attr("arch_id", "x")
    assert study.trials[0].params == {"a": a} and study.trials[0].user_attrs == {"arch_id": "x"}  # this process
    assert _db_trial(url, 0).params == {}  # not yet in the database
    flush_trial(trial)
    assert _db_trial(url, 0).params == {"a": a} and _db_trial(url, 0).user_attrs == {"arch_id": "x"}
    trial.set_user_attr("arch_id", "y")  # an attribute set again is updated, not duplicated
    trial.set_constraint("c", 0.5)
    study.tell(trial, [1.0, 2.0])
    stored = _db_trial(url, 0)
    assert stored.state == TrialState.COMPLETE and stored.values == [1.0, 2.0] and stored.user_attrs == {"arch_id": "y"}
    assert stored.system_attrs["constraints:c"] == 0.5


def test_samplers_see_a_told_trial_as_finished_at_once(tmp_path) -> None:
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", "s", ["minimize"], optuna.samplers.RandomSampler(seed=0))
    for i in range(3):
        trial = study.ask()
        trial.suggest_categorical("a", [1, 2, 3])
        flush_trial(trial)
        if i == 1:
            study._storage._snapshots.clear()  # as if the snapshot aged out while the trial ran
        assert [t.state for t in study.get_trials(deepcopy=False)][-1] == TrialState.RUNNING
        study.tell(trial, float(i))
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        assert [t.number for t in done] == list(range(i + 1)) and done[-1].params


def test_an_unflushed_trial_of_a_killed_driver_is_left_running_without_params(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study(url, "s", ["maximize", "minimize"], optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    trial.suggest_categorical("a", [1, 2, 3])  # the driver dies here: nothing was evaluated
    stored = _db_trial(url, 0)
    assert stored.state == TrialState.RUNNING and stored.params == {}  # reconcile fails it as interrupted


@pytest.mark.parametrize("name", ["nsga2", "tpe", "predictor"])
def test_a_search_proposes_the_same_architectures_as_on_optuna_s_own_storage(tmp_path, name) -> None:
    space = toy_space()
    runs = {}
    for label, make in (("plain", lambda s: optuna.create_study(storage=f"sqlite:///{tmp_path / 'plain.db'}",
                                                                 study_name=name, directions=["maximize", "minimize"],
                                                                 sampler=s)),
                        ("buffered", lambda s: open_study(f"sqlite:///{tmp_path / 'buf.db'}", name,
                                                          ["maximize", "minimize"], s))):
        strategy = make_strategy(name, seed=3, population_size=4)
        if name == "predictor":
            strategy.n_initial, strategy.models = 4, strategy.models | {"maximize": "ridge"}
        study = make(strategy.make_sampler())
        _, rec = run_loop(strategy, budget=10, study=study, space=space, constraints=["latency_ms<=9"])
        runs[label] = [r["arch_id"] for r in rec.rows]
        assert len(set(runs[label])) == 10
        reread = optuna.load_study(study_name=name, storage=study._storage._rdb if label == "buffered"
                                   else f"sqlite:///{tmp_path / 'plain.db'}")
        done = reread.get_trials(states=(TrialState.COMPLETE,))
        assert len(done) == 10 and all(t.params and "arch_id" in t.user_attrs and "constraints" in t.user_attrs
                                       for t in done)
        assert all(t.system_attrs["constraints:latency_ms<=9"] == t.user_attrs["constraints"][0] for t in done)
    assert runs["plain"] == runs["buffered"]
