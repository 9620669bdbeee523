"""The search loop and the run store: deduplication, budgets, failures, reconciliation, locking."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from nas.catalog import SPACES
from nas.errors import RunStoreError
from nas.execution.local import LocalExecutor
from nas.search.budget import Budget, Spent
from nas.search.loop import SearchLoop, reconcile
from nas.search.objectives import parse_constraint, parse_objectives
from nas.search.optuna_strategies import make_strategy
from nas.store import RunStore, resolve_run
from nas.space import Arch, Choice, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
OBJ = parse_objectives("accuracy:max,latency_ms:min")


class FakeEvaluator:
    """Deterministic metrics from the architecture: larger widths are better and slower."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on or set()

    def evaluate(self, arch: Arch, seed: int) -> dict[str, float]:
        self.calls.append(arch.arch_id)
        if arch.arch_id in self.fail_on:
            raise RuntimeError("boom")
        size = sum(float(v) for _, v in arch.items)
        return {"accuracy": 50 + size / 10, "latency_ms": size / 100, "eval_s": 0.0, "latency_s": 0.0}


class MemoryRecorder:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.states: list[dict] = []

    def record(self, row):
        self.rows.append(row)

    def checkpoint(self, strategy_state, spent):
        self.states.append(spent.to_dict())


def _loop(space, evaluator, budget, strategy="random", seed=0, constraints=(), study=None):
    strat = make_strategy(strategy, seed, 8)
    study = study or optuna.create_study(directions=[o.direction for o in OBJ], sampler=strat.make_sampler())
    strat.bind(study, space, OBJ, constraints)
    rec = MemoryRecorder()
    loop = SearchLoop(study, space, strat, LocalExecutor(evaluator), OBJ, constraints, budget, rec, seed, Spent())
    return loop, study, rec


def test_tiny_space_is_exhausted_without_duplicate_evaluations():
    space = SearchSpace("tiny", [Choice("a", (1, 2, 3)), Choice("b", (10, 20))])  # 6 archs
    ev = FakeEvaluator()
    loop, study, rec = _loop(space, ev, Budget(evaluations=50))
    reason = loop.run()
    assert "no unevaluated architecture" in reason
    assert len(ev.calls) == 6 == len(set(ev.calls))
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 6
    pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert all("duplicate_of" in t.user_attrs for t in pruned)


def test_budget_counts_distinct_completed_evaluations():
    space = SPACES.get("cnn1d").build_space()
    ev = FakeEvaluator()
    loop, study, rec = _loop(space, ev, Budget(evaluations=15), strategy="nsga2")
    assert "evaluation budget spent (15/15)" in loop.run()
    assert len(rec.rows) == 15 and len({r["arch_id"] for r in rec.rows}) == 15
    assert loop.spent.evaluations == 15 and loop.front_size() >= 1


def test_failed_evaluations_are_recorded_and_the_search_goes_on():
    space = SearchSpace("tiny", [Choice("a", (1, 2, 3, 4)), Choice("b", (10, 20))])
    bad = space.make({"a": 2, "b": 20}).arch_id
    ev = FakeEvaluator(fail_on={bad})
    loop, study, rec = _loop(space, ev, Budget(evaluations=5))
    loop.run()
    failed = [r for r in rec.rows if r["state"] == "failed"]
    assert failed and "boom" in failed[0]["error"]
    assert sum(r["state"] == "complete" for r in rec.rows) == 5


def test_constraints_mark_feasibility_and_reach_optuna():
    space = SPACES.get("cnn1d").build_space()
    cons = (parse_constraint("latency_ms<=1.0"),)
    loop, study, rec = _loop(space, FakeEvaluator(), Budget(evaluations=10), strategy="tpe", constraints=cons)
    loop.run()
    for r in rec.rows:
        assert r["feasible"] == (r["latency_ms"] <= 1.0)
    t = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    assert any(k.startswith("constraints") for k in t.system_attrs)


def test_reconcile_restores_recorded_and_fails_unrecorded_running_trials():
    study = optuna.create_study(directions=["maximize", "minimize"])
    t_done, t_lost = study.ask(), study.ask()
    rows = [{"trial": t_done.number, "state": "complete", "accuracy": 90.0, "latency_ms": 1.5}]
    counts = reconcile(study, rows, OBJ, ())
    assert counts == {"restored": 1, "interrupted": 1}
    states = {t.number: t.state for t in study.trials}
    assert states[t_done.number] == optuna.trial.TrialState.COMPLETE
    assert study.trials[t_done.number].values == [90.0, 1.5]
    assert states[t_lost.number] == optuna.trial.TrialState.FAIL


def test_run_store_writes_atomically_and_refuses_a_second_writer(tmp_path):
    store = RunStore.create(tmp_path, "r1", {"space": "cnn1d"}, {"spent": {}})
    assert store.manifest()["status"] == "created"
    store.add_row({"trial": 0, "arch_id": "a", "state": "complete", "accuracy": 1.0})
    store.add_row({"trial": 1, "arch_id": "b", "state": "failed", "accuracy": np.nan})
    assert list(RunStore(store.path).trials()["arch_id"]) == ["a", "b"]
    assert not [p for p in store.path.iterdir() if p.name.endswith(".tmp")]
    store.lock()
    other = RunStore(store.path)
    with pytest.raises(RunStoreError, match="one writer"):
        other.lock()
    store.unlock()
    other.lock()
    other.unlock()
    with pytest.raises(RunStoreError, match="must be new"):
        RunStore.create(tmp_path, "r1", {}, {})


def test_corrupt_files_are_named_in_the_error(tmp_path):
    store = RunStore.create(tmp_path, "r2", {"space": "cnn1d"}, {})
    store.file("trials.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunStoreError, match="trials.parquet"):
        RunStore(store.path).trials()
    from nas.checkpoint import load_checkpoint

    store.file("supernet.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(RunStoreError, match="supernet.safetensors"):
        load_checkpoint(store.file("supernet.safetensors"))
    store.event("x", a=1)
    with open(store.file("events.jsonl"), "a") as fh:
        fh.write('{"torn": ')  # a crash mid-line
    assert [e["kind"] for e in store.events()] == ["x"]


def test_resolve_run_validates_ids(tmp_path):
    RunStore.create(tmp_path, "ok-run", {}, {})
    assert resolve_run(tmp_path, "ok-run") == (tmp_path / "ok-run").resolve()
    for bad in ("../../etc/passwd", "..", "a b", ""):
        with pytest.raises(RunStoreError, match="`run` must"):
            resolve_run(tmp_path, bad)
