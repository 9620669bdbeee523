"""Predictor-guided search (DESIGN §4, §8): evaluate a seeded population, then rounds of
refit → score candidates → pick a batch by expected hypervolume improvement → evaluate.

Call sequence, inside :class:`nas.search.loop.SearchLoop`::

    strategy.bind(study, space, objectives, constraints); strategy.load_state_dict(saved)
    ask(n):  pops the pending batch; when it is empty, plans a round:
             round 0: a scrambled-Sobol (or random) initial population of ``n_initial`` archs;
             later:   fit one predictor per objective (and per constraint) on every evaluation,
                      predict every candidate (the enumerated space when it has at most
                      ``pool_limit`` archs, else the pool of :mod:`nas.search.round_pool`: a
                      uniform sample, the front's neighbours and a predictor-only local search),
                      and pick a batch greedily by EHVI with the predicted std scaled by
                      ``std_scale`` (Kriging believer, lazy greedy), weighted by the predicted
                      probability of meeting the constraints.
    tell(p, metrics): the evaluation joins the training data.

What §8 found mattered is built in: maximised objectives (accuracy) are capped at the
``cap_quantile`` of observed losses so that broken architectures do not inflate the
uncertainty; features are the space's structural features beside the one-hot; batches are
small early (``batch_schedule``); nothing proposed, evaluated or failed is proposed again.
On the NB201 table, extremely randomised trees, an initial population of 20, batches of 2 up to
100 evaluations and an unscaled ridge std were tried as defaults and measured no better (worse
on the FPGA column): ``benchmarks/results/search_tried_defaults.json`` holds those figures.
What did help there (5 seeds, HV ratio at 100 evaluations, raspi4 / titanxp): one evaluation
per round up to 100 (0.843 / 0.893 -> 0.875 / 0.910 with the forest) and the forest + MLP-ensemble
blend for accuracy (-> 0.891 / 0.948); an MLP ensemble for latency, gradient-boosted trees for
accuracy and a doubled std scale were worse.
The reference point of the EHVI is the ``ref_quantile`` of the predicted losses over the
candidates: 0.9 by default, so that the whole front a user browses (fast, less accurate models
included) earns improvement; a benchmark that scores hypervolume against a tighter point (the
median in DESIGN §5) passes that quantile instead.

Everything that decides the next batch is in :meth:`state_dict`: the seed, the generator, the
round counter, the pending batch, the proposals in flight and the training data. A run resumed
after SIGKILL reloads the last checkpoint (written after every finished evaluation), proposes
again first what was in flight, and then the batch the uninterrupted run would have proposed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from optuna.trial import TrialState
from scipy.special import ndtr

from nas.errors import invalid
from nas.search.acquisition import select_batch
from nas.search.base import CONSTRAINTS_ATTR, Proposal, Strategy
from nas.search.candidates import INIT_METHODS, initial_design
from nas.search.loop import derive_seed
from nas.search.optuna_strategies import STRATEGIES
from nas.search.pareto import pareto_mask
from nas.search.round_pool import INNER_METHODS, searched_pool, uniform_sample
from nas.space import Arch

__all__ = ["PredictorStrategy", "DEFAULT_MODELS", "DEFAULT_SETTINGS"]

STATE_VERSION = 1
DEFAULT_MODELS: dict[str, str] = {"maximize": "blend", "minimize": "ridge", "constraint": "ridge"}
"""Predictor per objective direction: accuracy-like objectives get the random-forest + MLP-ensemble
blend (:mod:`predictors.blend`), latency-like costs a ridge (they are nearly linear in the features)."""
_ROUND_MEMBERS: dict[str, dict[str, Any]] = {"random_forest": {"n_estimators": 64}, "mlp_ensemble": {"batch_size": 1024}}
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    **_ROUND_MEMBERS, "extra_trees": {"n_estimators": 64}, "gbm": {"n_bags": 3, "n_estimators": 100},
    "blend": {"settings": _ROUND_MEMBERS}}
"""Predictor settings in a round (the blend's members get the same): a 64-tree forest, and the MLP ensemble full-batch up to 1,024
evaluations (200 steps whatever the data; mini-batches of 256 took 4x the steps at 1,000)."""


class PredictorStrategy(Strategy):
    """Predictor-guided multi-objective search with batched EHVI (see the module docstring).

    Args:
        seed: Seed of every generator the strategy owns (restored from the state on resume).
        n_initial: Size of the initial population.
        init: ``sobol`` or ``random`` initial population.
        models: Predictor name per direction (``maximize``/``minimize``/``constraint``) or per metric.
        cap_quantile: Cap of the maximised objectives' losses (1.0: no cap).
        ref_quantile: Quantile of the predicted losses used as the EHVI reference point.
        std_scale: Multiplier of the predicted standard deviations.
        batch_schedule: ``(evaluations, batch)`` steps: batch size while fewer are done.
        max_batch: Batch size after the schedule.
        batch_growth: After the schedule the batch is ``max(max_batch, ceil(batch_growth * done))``,
            so that the cost of refitting, which grows with the data, is shared by more evaluations.
        pool_limit: Largest space scored exhaustively.
        inner: How large spaces are searched on the predictors each round: ``local`` (the front
            and the best-predicted of a uniform sample, their neighbours and crossovers, two
            generations, no study: milliseconds per candidate) or ``nsga2`` (an in-memory Optuna
            NSGA-II study of ``inner_trials`` trials).
        inner_trials: Trials of the inner NSGA-II search.
        inner_population: Its population.
        features: ``Arch -> vector``; default: the registered space's ``SpaceSpec.encode``, else
            ``space.encode``.

    Raises:
        ConfigError: naming the setting when one is out of range.
    """

    name = "predictor"

    def __init__(self, seed: int, *, n_initial: int = 10, init: str = "sobol", models: Mapping[str, str] | None = None,
                 cap_quantile: float = 0.75, ref_quantile: float = 0.9, std_scale: float = 0.5,
                 batch_schedule: Sequence[tuple[int, int]] = ((100, 1), (300, 5)), max_batch: int = 10,
                 batch_growth: float = 0.05,
                 pool_limit: int = 20_000, inner: str = "local", inner_trials: int = 1000, inner_population: int = 100,
                 features: Callable[[Arch], np.ndarray] | None = None) -> None:
        super().__init__(seed)
        for key, v in (("cap_quantile", cap_quantile), ("ref_quantile", ref_quantile)):
            if not 0.0 < v <= 1.0:
                raise invalid(key, "be in (0, 1]", v)
        if not 0.0 <= std_scale <= 100.0:
            raise invalid("std_scale", "be in [0, 100]", std_scale)
        if n_initial < 2:
            raise invalid("n_initial", "be at least 2", n_initial)
        if max_batch < 1 or any(b < 1 for _, b in batch_schedule):
            raise invalid("batch_schedule", "have batch sizes of at least 1", (tuple(batch_schedule), max_batch))
        if not 0.0 <= batch_growth <= 1.0:
            raise invalid("batch_growth", "be in [0, 1]", batch_growth)
        if init not in INIT_METHODS:
            raise invalid("init", f"be one of {list(INIT_METHODS)}", init)
        if inner not in INNER_METHODS:
            raise invalid("inner", f"be one of {list(INNER_METHODS)}", inner)
        self.inner = inner
        self.n_initial, self.init = int(n_initial), init
        self.models = DEFAULT_MODELS | dict(models or {})
        self.cap_quantile, self.ref_quantile, self.std_scale = cap_quantile, ref_quantile, std_scale
        self.batch_schedule, self.max_batch = tuple(batch_schedule), int(max_batch)
        self.batch_growth = float(batch_growth)
        self.pool_limit, self.inner_trials, self.inner_population = pool_limit, inner_trials, inner_population
        self.features = features
        self.round_seconds: list[float] = []
        self._cache: dict[str, np.ndarray] = {}
        self._pool: list[Arch] | None = None
        self._uniform: tuple[int, list[Arch], np.ndarray] | None = None
        self._reset(seed)

    def _reset(self, seed: int) -> None:
        self.seed = int(seed)
        self._rng = np.random.default_rng(derive_seed(self.seed, 11))
        self._round = 0
        self._pending: list[Arch] = []
        self._outstanding: dict[int, Arch] = {}
        self._failed: set[str] = set()
        self._data: dict[int, tuple[Arch, list[float], list[float]]] = {}
        self._predicted: dict[str, dict[str, float]] = {}  # arch_id -> predicted metrics, until asked
        self._synced = False

    # ---- the Strategy contract ------------------------------------------------------------
    def bind(self, study: Any, space: Any, objectives: Any, constraints: Any) -> None:  # noqa: D102
        super().bind(study, space, objectives, constraints)
        if self.features is None:
            from nas.catalog import SPACES

            spec = SPACES.get(space.name) if space.name in SPACES else None
            self._encode: Callable[[Arch], np.ndarray] = (lambda a: spec.encode(space, a)) if spec else space.encode
        else:
            self._encode = self.features
        self._cache, self._pool, self._uniform, self._synced = {}, None, None, False

    def ask(self, n: int) -> list[Proposal]:  # noqa: D102
        study, space = self._require_bound()
        self._sync()
        out: list[Proposal] = []
        for _ in range(4 * n + 16):  # bounded: each pass pops one arch or plans one round
            if len(out) >= n:
                break
            if not self._pending:
                self._plan(n - len(out))
                if not self._pending:
                    break
            arch = self._pending.pop(0)
            if arch.arch_id in self._taken():
                continue
            study.enqueue_trial(space.params(arch))
            trial = study.ask()
            self._outstanding[trial.number] = arch
            out.append(Proposal(trial, space.suggest(trial), self._predicted.pop(arch.arch_id, {})))
        return out

    def tell(self, proposal: Proposal, metrics: dict[str, float] | None) -> None:  # noqa: D102
        arch = self._outstanding.pop(proposal.number, proposal.arch)
        if metrics is None:
            if proposal.trial.user_attrs.get("duplicate_of") is None:  # a failure, not a duplicate
                self._failed.add(arch.arch_id)
            return
        values = [float(metrics[o.metric]) for o in self.objectives]
        self._data[proposal.number] = (arch, values, [float(c.violation(metrics)) for c in self.constraints])

    def state_dict(self) -> dict[str, Any]:  # noqa: D102
        nums = sorted(self._data)
        return {"version": STATE_VERSION, "seed": self.seed, "round": self._round, "rng": self._rng.bit_generator.state,
                "pending": [a.to_dict() for a in self._pending],
                "outstanding": [[k, a.to_dict()] for k, a in sorted(self._outstanding.items())],
                "failed": sorted(self._failed), "predicted": dict(sorted(self._predicted.items())),
                "data": {"trials": nums, "archs": [self._data[k][0].to_dict() for k in nums],
                         "values": [self._data[k][1] for k in nums], "violations": [self._data[k][2] for k in nums]},
                "round_s": {"count": len(self.round_seconds), "total": float(sum(self.round_seconds))}}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: D102
        if not state:
            return
        if state.get("version") != STATE_VERSION:
            raise invalid("state.version", f"be {STATE_VERSION} (written by this strategy)", state.get("version"))
        _, space = self._require_bound()
        self._reset(int(state["seed"]))
        self._rng.bit_generator.state = state["rng"]
        self._round = int(state["round"])
        self._pending = [space.make(a) for a in state["pending"]]
        self._outstanding = {int(k): space.make(a) for k, a in state["outstanding"]}
        self._failed = set(state["failed"])
        self._predicted = {k: {m: float(v) for m, v in p.items()} for k, p in state.get("predicted", {}).items()}
        d = state["data"]
        for k, a, v, c in zip(d["trials"], d["archs"], d["values"], d["violations"]):
            self._data[int(k)] = (space.make(a), [float(x) for x in v], [float(x) for x in c])

    # ---- bookkeeping ----------------------------------------------------------------------
    def _sync(self) -> None:
        """Adopts study trials the state lacks (a kill after the study was told); settles the in-flight.

        Completed trials join the data; failed ones join the failed set unless a kill interrupted
        them; proposals in flight at the checkpoint that have no result are proposed again first.
        """
        if self._synced:
            return
        study, space = self._require_bound()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            if t.number in self._data or "arch" not in t.user_attrs:
                continue
            arch = space.arch_from_json(t.user_attrs["arch"])
            if t.state == TrialState.FAIL:
                if not t.user_attrs.get("interrupted"):
                    self._failed.add(arch.arch_id)
                continue
            viol = [float(v) for v in t.user_attrs.get(CONSTRAINTS_ATTR, [])][: len(self.constraints)]
            self._data[t.number] = (arch, [float(v) for v in t.values], viol + [0.0] * (len(self.constraints) - len(viol)))
        lost = [a for k, a in sorted(self._outstanding.items()) if k not in self._data]
        self._outstanding = {}
        self._pending = [a for a in lost if a.arch_id not in self._failed] + self._pending
        self._synced = True

    def _taken(self) -> set[str]:
        ids = {a.arch_id for a, _, _ in self._data.values()} | self._failed
        return ids | {a.arch_id for a in self._outstanding.values()}

    def _batch_size(self, done: int) -> int:
        for upto, size in self.batch_schedule:
            if done < upto:
                return size
        return max(self.max_batch, int(np.ceil(self.batch_growth * done)))

    def _x(self, archs: Sequence[Arch], cache: bool = True) -> np.ndarray:
        rows = []
        for a in archs:
            row = self._cache.get(a.arch_id)
            if row is None:
                row = np.asarray(self._encode(a), dtype=float).reshape(-1)
                if cache:
                    self._cache[a.arch_id] = row
            rows.append(row)
        return np.vstack(rows)

    # ---- a round --------------------------------------------------------------------------
    def _plan(self, want: int) -> None:
        t0 = time.perf_counter()
        _, space = self._require_bound()
        taken = self._taken()
        done = len(self._data) + len(self._outstanding)
        if self._round == 0 and done < self.n_initial:
            self._pending = initial_design(space, self.n_initial - done, self._rng, self.init, taken)
        elif len(self._data) < 3:  # too little to fit on (failures ate the initial population)
            self._pending = initial_design(space, max(want, 2), self._rng, "random", taken)
        else:
            self._pending = self._model_round(max(want, self._batch_size(done)), taken)
        self._round += 1
        self.round_seconds.append(time.perf_counter() - t0)

    def _fit(self) -> tuple[list[Any], list[Any]]:
        """One fitted predictor per objective (losses) and per constraint (violations)."""
        from predictors import make_predictor

        nums = sorted(self._data)
        X = self._x([self._data[k][0] for k in nums])
        losses = np.array([[o.sign * v for o, v in zip(self.objectives, self._data[k][1])] for k in nums])
        fitted: list[list[Any]] = [[], []]
        targets = [(o.metric, o.direction, losses[:, j]) for j, o in enumerate(self.objectives)]
        targets += [(str(c), "constraint", np.array([self._data[k][2][i] for k in nums])) for i, c in enumerate(self.constraints)]
        for i, (metric, kind, y) in enumerate(targets):
            if kind == "maximize" and self.cap_quantile < 1.0:
                y = np.minimum(y, np.quantile(y, self.cap_quantile))
            name = self.models.get(metric, self.models[kind])
            model = make_predictor(name, seed=derive_seed(self.seed, 13, self._round, i), **DEFAULT_SETTINGS.get(name, {}))
            fitted[kind == "constraint"].append(model.fit(X, y))
        return fitted[0], fitted[1]

    def _predict(self, models: list[Any], X: np.ndarray, scaled: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predicted means and stds (times ``std_scale`` unless ``scaled`` is False), one column per model."""
        preds = [m.predict(X) for m in models]
        std = np.stack([p[1] for p in preds], axis=1)
        return np.stack([p[0] for p in preds], axis=1), std * self.std_scale if scaled else std

    def _candidates(self, obj_models: list[Any], taken: set[str], front_archs: list[Arch]) -> tuple[list[Arch], np.ndarray, np.ndarray]:
        """Unevaluated candidates, their features, and the rows that sample the space uniformly."""
        _, space = self._require_bound()
        if self._pool is None and space.cardinality() <= self.pool_limit:
            self._pool = list(space.enumerate(self.pool_limit))
            self._pool_ids = {a.arch_id: i for i, a in enumerate(self._pool)}
            self._pool_x = self._x(self._pool, cache=False)
        if self._pool is not None:
            alive = np.ones(len(self._pool), dtype=bool)
            alive[[self._pool_ids[t] for t in taken if t in self._pool_ids]] = False
            keep = np.flatnonzero(alive)
            return [self._pool[i] for i in keep], self._pool_x[keep], np.arange(len(keep))
        def optimistic(X: np.ndarray) -> np.ndarray:
            mean, std = self._predict(obj_models, X)
            return mean - std

        if self._uniform is None or self._uniform[0] != self.seed:  # drawn once per seed, not per round
            self._uniform = (self.seed, *uniform_sample(space, self._encode, self.seed))
        return searched_pool(space, self._encode, optimistic, front_archs, taken, self.seed, self._round, self.inner,
                             self.inner_trials, self.inner_population, uniform=self._uniform[1:])

    def _model_round(self, q: int, taken: set[str]) -> list[Arch]:
        obj_models, con_models = self._fit()
        signs = np.array([o.sign for o in self.objectives])
        feasible = [(a, v) for _, (a, v, c) in sorted(self._data.items()) if all(x <= 0 for x in c)]
        front = np.array([np.asarray(v) * signs for _, v in feasible]).reshape(-1, len(signs))
        on_front = pareto_mask(front) if len(front) else np.zeros(0, dtype=bool)
        archs, X, ref_rows = self._candidates(obj_models, taken, [a for (a, _), m in zip(feasible, on_front) if m])
        if not archs:
            return []
        mean, raw_std = self._predict(obj_models, X, scaled=False)
        std = raw_std * self.std_scale
        ref = np.quantile(mean[ref_rows] if len(ref_rows) else mean, self.ref_quantile, axis=0)
        if self._outstanding:  # believed: in flight, predicted at their mean
            front = np.vstack([front, self._predict(obj_models, self._x(list(self._outstanding.values())))[0]])
        weight = None
        if con_models:
            cm, cs = self._predict(con_models, X)
            weight = np.prod(np.where(cs > 0, ndtr(-cm / np.where(cs > 0, cs, 1.0)), (cm <= 0).astype(float)), axis=1)
        picks = select_batch(mean, std, front, ref, q, weight, self._rng)
        for i in picks:
            self._predicted[archs[i].arch_id] = self._prediction(mean[i], raw_std[i])
        return [archs[i] for i in picks]

    def _prediction(self, loss: np.ndarray, std: np.ndarray) -> dict[str, float]:
        """Predicted metric values and the predictors' own std (not scaled) of one candidate."""
        out: dict[str, float] = {}
        for j, o in enumerate(self.objectives):
            out[f"predicted_{o.metric}"] = float(o.sign * loss[j])
            out[f"predicted_{o.metric}_std"] = float(std[j])
        return out


STRATEGIES.add("predictor", lambda seed, pop: PredictorStrategy(seed))
