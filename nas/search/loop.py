"""The search loop: strategy in the driver, evaluations on the executor, ask/tell.

Every step: check the budget, fill the executor up to its capacity with proposals (duplicates by
``arch_id`` are recorded as pruned trials, never evaluated twice), collect finished outcomes,
record each one in the run (trial row first, then the study), tell the strategy. On resume,
:func:`reconcile` settles trials a killed driver left running, so no completed evaluation is
lost or redone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import optuna
from optuna.trial import TrialState

from nas.execution.base import Executor, Job, Outcome
from nas.search.base import CONSTRAINTS_ATTR, Proposal, Strategy
from nas.search.budget import Budget, Spent
from nas.search.claims import BudgetFull, Claims
from nas.search.objectives import Constraint, Objective
from nas.search.pareto import hypervolume, pareto_mask, reference_point, to_losses
from nas.search.study_buffer import flush_trial
from nas.space import Arch, SearchSpace

__all__ = ["Recorder", "SearchLoop", "Progress", "derive_seed", "reconcile", "set_constraints", "MAX_CONSECUTIVE_DUPLICATES"]

MAX_CONSECUTIVE_DUPLICATES = 50
MAX_RANDOM_TRIES = 2000
MAX_CONSECUTIVE_FAILURES = 20
POLL_S = 0.2  # wait between polls when nothing is in flight (a shared budget held by others)


def derive_seed(run_seed: int, *keys: int) -> int:
    """A 31-bit seed derived from the run seed and keys (per trial, per worker, ...)."""
    return int(np.random.SeedSequence([run_seed, *keys]).generate_state(1)[0] & 0x7FFFFFFF)


class Recorder(Protocol):
    """Where the loop records evaluations (the run store, or memory for benchmarks)."""

    def record(self, row: dict[str, Any]) -> None:
        """Persists one finished evaluation (before the study is told)."""
        ...

    def checkpoint(self, strategy_state: dict[str, Any], spent: Spent) -> None:
        """Persists the strategy's state and the budget spent."""
        ...


@dataclass(frozen=True)
class Progress:
    """What the loop reports after each step (for progress bars and events)."""

    spent: Spent
    front_size: int
    hypervolume: float
    last: Outcome | None = None


@dataclass
class SearchLoop:
    """Drives a strategy against an executor until the budget is spent.

    Attributes:
        study: The run's Optuna study (one trial per proposal).
        space: The search space.
        strategy: The bound strategy.
        executor: Where evaluations run (started by the caller).
        objectives: Objectives (their metrics become the study's values).
        constraints: Constraints (stored on each trial for Optuna's constraint handling).
        budget: The budget.
        recorder: Where rows are persisted.
        seed: The run seed (per-trial seeds derive from it).
        spent: What was spent before this call (carried across resumes).
        on_progress: Called after every recorded outcome.
        claims: Claims of a study shared with other drivers (``None``: this driver alone).
        shared_budget: Count the evaluation budget over every driver of the study (needs claims).
        driver: This driver's id, stored on its trials so that a resume settles only its own.
    """

    study: optuna.Study
    space: SearchSpace
    strategy: Strategy
    executor: Executor
    objectives: Sequence[Objective]
    constraints: Sequence[Constraint]
    budget: Budget
    recorder: Recorder
    seed: int
    spent: Spent = field(default_factory=Spent)
    on_progress: Callable[[Progress], None] | None = None
    claims: Claims | None = None
    shared_budget: bool = False
    driver: str = ""

    def __post_init__(self) -> None:
        self._known: dict[str, int] = {}
        self._losses: list[np.ndarray] = []
        self._feasible: list[bool] = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            self._known[t.user_attrs.get("arch_id", "")] = t.number
            self._note_values(t.values, t.user_attrs.get(CONSTRAINTS_ATTR, [0.0]))
        self._inflight: dict[int, Proposal] = {}
        self._inflight_ids: set[str] = set()
        self._dups = 0
        self._fails = 0
        self._last_error = ""
        self._rng = np.random.default_rng(derive_seed(self.seed, 7, len(self.study.trials)))

    # ---- public ---------------------------------------------------------------------------
    def run(self) -> str:
        """Runs until the budget is spent or no new architecture can be found.

        Returns:
            Why the loop stopped.
        """
        t_start = time.perf_counter()
        base_seconds = self.spent.seconds
        reason: str | None = None
        exhausted_space = False
        self._fails = 0
        while reason is None or self._inflight:
            self.spent.seconds = base_seconds + time.perf_counter() - t_start
            reason = self.budget.exhausted(self._budget_view()) or self._failing()
            if reason is None and not exhausted_space:
                exhausted_space = not self._fill()
            if not self._inflight and reason is None and exhausted_space:
                reason = "no unevaluated architecture left to propose"
            outcomes = self.executor.wait(timeout=1.0)
            for outcome in outcomes:
                self._finish(outcome)
            if not outcomes and not self._inflight and reason is None:
                time.sleep(POLL_S)  # the rest of a shared budget is in other drivers' hands
        self.recorder.checkpoint(self.strategy.state_dict(), self.spent)
        return reason

    def _failing(self) -> str | None:
        if self._fails >= MAX_CONSECUTIVE_FAILURES:
            return f"{self._fails} evaluations failed in a row; last error: {self._last_error[:300]}"
        return None

    def front_size(self) -> int:
        """Size of the current feasible Pareto front."""
        return int(self._front_mask().sum())

    # ---- proposing ------------------------------------------------------------------------
    def _budget_view(self) -> Spent:
        """What counts against the budget: this driver's spending, or the whole study's."""
        if not (self.shared_budget and self.claims is not None):
            return self.spent
        view = Spent(**{**self.spent.to_dict(), "extra": {}})
        view.evaluations = self.claims.counts().get("done", 0)
        return view

    def _want(self) -> int:
        free = self.executor.capacity - len(self._inflight)
        if self.budget.evaluations is None:
            return max(0, free)
        if self.shared_budget and self.claims is not None:
            c = self.claims.counts()  # every driver's in-flight claims count against what is left
            left = self.budget.evaluations - c.get("done", 0) - c.get("claimed", 0)
        else:
            left = self.budget.evaluations - self.spent.evaluations - len(self._inflight)
        return max(0, min(free, left))

    def _fill(self) -> bool:
        """Submits proposals up to capacity; False when no new architecture can be found."""
        want = self._want()
        while want > 0:
            proposals = self.strategy.ask(want)
            if not proposals:
                return len(self._inflight) > 0
            for i, p in enumerate(proposals):
                try:
                    duplicate = self._is_duplicate(p)
                except BudgetFull:  # other drivers took the rest of the shared budget
                    for rest in proposals[i:]:
                        self._unclaimed(rest)
                    return True
                if duplicate:
                    self._dups += 1
                    if self._dups >= MAX_CONSECUTIVE_DUPLICATES:
                        try:
                            p2 = self._random_unseen()
                        except BudgetFull:
                            for rest in proposals[i + 1:]:
                                self._unclaimed(rest)
                            return True
                        if p2 is None:
                            return False
                        self._submit(p2)
                        want -= 1
                    continue
                self._dups = 0
                self._submit(p)
                want -= 1
        return True

    def _is_duplicate(self, p: Proposal) -> bool:
        aid = p.arch.arch_id
        if aid not in self._known and aid not in self._inflight_ids and self._claim(aid, p.number):
            return False
        p.trial.set_user_attr("arch_id", aid)
        p.trial.set_user_attr("duplicate_of", self._known.get(aid, -1))
        self.study.tell(p.trial, state=TrialState.PRUNED)
        self.strategy.tell(p, None)
        return True

    def _random_unseen(self) -> Proposal | None:
        """A uniformly sampled architecture not yet evaluated (bounded tries)."""
        for _ in range(MAX_RANDOM_TRIES):
            arch = self.space.sample(self._rng)
            if arch.arch_id in self._known or arch.arch_id in self._inflight_ids:
                continue
            self.study.enqueue_trial(self.space.params(arch))
            trial = self.study.ask()
            try:
                claimed = self._claim(arch.arch_id, trial.number)
            except BudgetFull:
                self._unclaimed(Proposal(trial, arch))
                raise
            if not claimed:  # another driver holds it
                self.study.tell(trial, state=TrialState.PRUNED)
                continue
            self._dups = 0
            return Proposal(trial, self.space.suggest(trial))
        return None

    def _claim(self, arch_id: str, trial: int) -> bool:
        if self.claims is None:
            return True
        limit = self.budget.evaluations if self.shared_budget else None
        return self.claims.claim(arch_id, trial, limit=limit)

    def _unclaimed(self, p: Proposal) -> None:
        """Closes a proposal that lost the last of a shared budget; it stays unevaluated."""
        p.trial.set_user_attr("arch_id", p.arch.arch_id)
        p.trial.set_user_attr("budget_full", True)
        self.study.tell(p.trial, state=TrialState.PRUNED)
        self.strategy.tell(p, None)

    def _submit(self, p: Proposal) -> None:
        aid = p.arch.arch_id
        p.trial.set_user_attr("arch_id", aid)
        p.trial.set_user_attr("arch", p.arch.to_json())
        p.trial.set_user_attr("driver", self.driver)
        flush_trial(p.trial)  # the trial is whole in the study before its evaluation starts
        self._inflight[p.number] = p
        self._inflight_ids.add(aid)
        self.executor.submit(Job(p.number, p.arch, derive_seed(self.seed, p.number)))

    # ---- finishing ------------------------------------------------------------------------
    def _finish(self, outcome: Outcome) -> None:
        p = self._inflight.pop(outcome.job.key)
        aid = p.arch.arch_id
        self._inflight_ids.discard(aid)
        row = _row(p, outcome, self.objectives, self.constraints)
        self.recorder.record(row)  # persisted before the study is told: see reconcile()
        if self.claims is not None:
            self.claims.finish(aid, outcome.ok)
        if outcome.ok:
            values = [float(outcome.metrics[o.metric]) for o in self.objectives]
            violations = [c.violation(outcome.metrics) for c in self.constraints] or [0.0]
            set_constraints(p.trial, self.constraints, violations)
            self.study.tell(p.trial, values)
            self._known[aid] = p.number
            self._note_values(values, violations)
            self.spent.evaluations += 1
            self.spent.eval_s += float(outcome.metrics.get("eval_s", 0.0))
            self.spent.device_s += float(outcome.metrics.get("latency_s", 0.0))
            self.strategy.tell(p, outcome.metrics)
            self._fails = 0
        else:
            self._fails += 1
            self._last_error = outcome.error or ""
            p.trial.set_user_attr("error", (outcome.error or "")[:2000])
            self.study.tell(p.trial, state=TrialState.FAIL)
            self.spent.failed += 1
            self.strategy.tell(p, None)
        self.recorder.checkpoint(self.strategy.state_dict(), self.spent)
        if self.on_progress is not None:
            self.on_progress(Progress(self.spent, self.front_size(), self._hv(), outcome))

    def _note_values(self, values: Sequence[float] | None, violations: Sequence[float]) -> None:
        if values is None:
            return
        self._losses.append(to_losses(np.asarray(values), self.objectives)[0])
        self._feasible.append(all(v <= 0 for v in violations))

    def _front_mask(self) -> np.ndarray:
        if not self._losses:
            return np.zeros(0, dtype=bool)
        losses = np.vstack(self._losses)
        feas = np.asarray(self._feasible)
        mask = np.zeros(len(losses), dtype=bool)
        if feas.any():
            idx = np.flatnonzero(feas)
            mask[idx[pareto_mask(losses[idx])]] = True
        return mask

    def _hv(self) -> float:
        if len(self._losses) < 2:
            return 0.0
        losses = np.vstack(self._losses)
        return hypervolume(losses[self._front_mask()], reference_point(losses))


def _row(p: Proposal, o: Outcome, objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trial": p.number,
        "arch_id": p.arch.arch_id,
        "arch": p.arch.to_json(),
        "state": "complete" if o.ok else "failed",
        "error": o.error or "",
        "worker": o.worker,
        "attempts": o.attempts,
        "seed": o.job.seed,
        "wall_s": o.seconds,
        "finished_at": time.time(),
    }
    row.update({k: float(v) for k, v in p.predicted.items()})  # the strategy's predictions, if any
    if o.ok:
        row.update({k: v if isinstance(v, str) else float(v) for k, v in o.metrics.items()})  # str: provenance
        viol = [c.violation(o.metrics) for c in constraints]
        row["violation"] = float(max(viol)) if viol else 0.0
        row["feasible"] = all(v <= 0 for v in viol)
    else:
        row.update({"violation": math.nan, "feasible": False})
    return row


def set_constraints(trial: optuna.trial.Trial, constraints: Sequence[Constraint], violations: Sequence[float]) -> None:
    """Stores violations on a running trial: for Optuna's samplers and for the front's feasibility."""
    trial.set_user_attr(CONSTRAINTS_ATTR, [float(v) for v in violations])
    for c, v in zip(constraints, violations):
        trial.set_constraint(str(c), float(v))


def reconcile(study: optuna.Study, rows: Sequence[dict[str, Any]], objectives: Sequence[Objective],
              constraints: Sequence[Constraint], driver: str | None = None) -> dict[str, int]:
    """Settles trials a killed driver left RUNNING, using the recorded rows.

    A trial whose row was recorded is told its recorded result; one without a row (killed
    mid-evaluation) is failed as ``interrupted`` and its architecture stays unevaluated. With a
    ``driver``, only that driver's trials are touched (other drivers of a shared study go on).

    Returns:
        Counts of trials ``restored`` and ``interrupted``.
    """
    by_trial = {int(r["trial"]): r for r in rows}
    counts = {"restored": 0, "interrupted": 0}
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        if driver is not None and t.user_attrs.get("driver") != driver:
            continue
        r = by_trial.get(t.number)
        if r is not None and r.get("state") == "complete":
            metrics = {k: v for k, v in r.items() if isinstance(v, (int, float))}
            viol = [c.violation(metrics) for c in constraints] or [0.0]
            set_constraints(optuna.trial.Trial(study, t._trial_id), constraints, viol)
            study.tell(t.number, [float(r[o.metric]) for o in objectives])
            counts["restored"] += 1
        else:
            optuna.trial.Trial(study, t._trial_id).set_user_attr("interrupted", True)
            study.tell(t.number, state=TrialState.FAIL)
            counts["interrupted"] += 1
    return counts


def arch_of(space: SearchSpace, row: dict[str, Any]) -> Arch:
    """The architecture recorded in a trial row."""
    return space.arch_from_json(row["arch"])
