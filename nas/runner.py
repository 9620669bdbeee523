"""Running a search end to end: create the run, train the supernet, search, finalise; resume.

Stages are idempotent so that ``nas resume`` simply runs :func:`execute` again: training resumes
from its last epoch checkpoint (or is skipped when ``supernet.safetensors`` is final), and the
search reconciles the study with the recorded rows and continues with the budget that is left.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from nas.catalog import SPACES, SpaceSpec
from nas.checkpoint import load_checkpoint, save_checkpoint
from nas.config import SearchConfig, _build, config_to_dict
from nas.data import TASKS, Task
from nas.errors import ConfigError, RunStoreError
from nas.evaluate import Evaluator
from nas.multitask import head_metrics
from nas.execution.base import Executor
from nas.execution.local import LocalExecutor
from nas.results import front_payload
from nas.search.budget import Spent
from nas.search.claims import Claims, open_study
from nas.search.loop import Progress, SearchLoop, derive_seed, reconcile
from nas.search.objectives import parse_constraint, parse_objectives
from nas.search.optuna_strategies import STRATEGIES, make_strategy
from nas.sharing import PLAN_FILE, SHARING, SharingContext, SharingMode, load_modes
from nas.store import RunStore
from nas.supernet.base import Supernet, seeded_build
from nas.train import EpochStats

__all__ = ["Hooks", "check_names", "new_run", "execute", "config_of", "load_supernet", "run_spec", "sharing_mode",
           "RunOutcome"]

STUDY_NAME = "sharenas"


@dataclass
class Hooks:
    """Callbacks for progress display (all optional)."""

    on_stage: Callable[[str, dict[str, Any]], None] | None = None
    on_epoch: Callable[[EpochStats], None] | None = None
    on_progress: Callable[[Progress], None] | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended."""

    store: RunStore
    reason: str
    spent: Spent


def check_names(cfg: SearchConfig) -> tuple[SpaceSpec, str]:
    """Validates registered names and per-space values (task, strategy, device, metrics).

    Returns:
        The space spec and the resolved task name.
    """
    spec = SPACES.get(cfg.space, "space")
    task = cfg.task or spec.default_task
    tasks = sharing_mode(cfg).tasks(spec) if spec.trainable else spec.tasks
    if task not in tasks:
        raise ConfigError(f"`task` must be one of {list(tasks)} for space `{spec.name}`"
                          f"{'' if cfg.sharing.kind == 'none' else ' with sharing ' + repr(cfg.sharing.kind)}, got {task!r}")
    heads = TASKS.get(task, "task").heads if spec.trainable else ()
    STRATEGIES.get(cfg.strategy, "strategy")
    if spec.trainable and cfg.device not in spec.devices:
        from nas.profiling.devices import parse_device

        parse_device(cfg.device)  # named devices (cpu-ort, ray:<resource>, ...) for trainable spaces
    elif cfg.device not in spec.devices:
        raise ConfigError(f"`device` must be one of {list(spec.devices)} for space `{spec.name}`, got {cfg.device!r}")
    mode = sharing_mode(cfg)
    if mode.name != "none":
        if not spec.trainable:
            raise ConfigError(f"`sharing.kind` {mode.name!r} must run on a trainable space, got table-backed "
                              f"space `{spec.name}`")
        mode.check(spec, task, cfg)
    metrics = tuple(spec.metrics) + tuple(m for m in mode.extra_metrics if m not in spec.metrics)
    metrics += tuple(m for m in head_metrics(heads) if m not in metrics)  # acc_<head> of multi-task tasks
    parse_objectives(cfg.objectives, metrics)
    for c in cfg.constraints:
        parse_constraint(c, metrics)
    return spec, task


def sharing_mode(cfg: SearchConfig) -> SharingMode:
    """The run's sharing mode (``cfg.sharing.kind``), with the built-in modes registered."""
    load_modes()
    return SHARING.get(cfg.sharing.kind, "sharing.kind")


def run_spec(store: RunStore) -> SpaceSpec:
    """The spec of the space a run searches: the registered one, or its sharing mode's derivation."""
    cfg = config_of(store)
    spec, _ = check_names(cfg)
    return sharing_mode(cfg).run_spec(spec, cfg, store) if spec.trainable else spec


def _versions() -> dict[str, str]:
    import numpy
    import ray
    import torch

    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("sharenas")
    except PackageNotFoundError:
        own = "dev"
    return {"sharenas": own, "python": platform.python_version(), "torch": torch.__version__,
            "optuna": optuna.__version__, "ray": ray.__version__, "numpy": numpy.__version__}


def new_run(cfg: SearchConfig) -> RunStore:
    """Validates names and creates the run folder (config, manifest); nothing else runs."""
    spec, task = check_names(cfg)
    resolved = config_to_dict(cfg) | {"task": task}
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in spec.name.rsplit("/", 1)[-1])  # table:<csv>
    base = f"{cfg.name + '-' if cfg.name else ''}{stamp}-{slug}-{cfg.strategy}"
    manifest = {
        "versions": _versions(),
        "seeds": {"run": cfg.seed, "train": derive_seed(cfg.seed, 1), "strategy": derive_seed(cfg.seed, 2)},
        "host": socket.gethostname(),
        "spent": Spent().to_dict(),
        "trained": False,
    }
    for attempt in range(100):
        run_id = base if attempt == 0 else f"{base}-{attempt + 1}"
        try:
            return RunStore.create(cfg.runs_dir, run_id, resolved, manifest)
        except RunStoreError as e:
            if "must be new" not in str(e):
                raise
    raise RunStoreError(f"`run_id` must be new, got 100 existing runs named {base}*")


def config_of(store: RunStore) -> SearchConfig:
    """The run's resolved config, re-validated."""
    return _build(SearchConfig, store.config(), "")


def load_supernet(store: RunStore) -> tuple[Supernet, Task, SearchConfig]:
    """Rebuilds a run's trained supernet and task from its folder (for export and evaluation)."""
    cfg = config_of(store)
    spec, task_name = check_names(cfg)
    mode = sharing_mode(cfg)
    task = TASKS.get(task_name).load(cfg.seed)
    net = mode.build_supernet(mode.run_spec(spec, cfg, store), task, cfg, store)
    tensors, _ = load_checkpoint(store.file("supernet.safetensors"))
    net.load_state_dict(tensors)
    net.eval()
    return net, task, cfg


def execute(store: RunStore, hooks: Hooks | None = None, executor_factory: Callable[[Evaluator, SearchConfig], Executor] | None = None) -> RunOutcome:
    """Runs (or resumes) every stage of a run, holding the run's writer lock.

    Args:
        store: The run folder.
        hooks: Progress callbacks.
        executor_factory: Builds the executor (default: from the config: Ray or local).
    """
    hooks = hooks or Hooks()
    store.lock()
    try:
        return _execute(store, hooks, executor_factory or default_executor)
    except KeyboardInterrupt:
        _mark(store, "stopped", stop_reason="interrupted by the user")
        raise
    except RunStoreError as e:  # disk full, folder made read-only, ...: what was written stays
        _mark(store, "failed", error=str(e)[:2000])
        raise RunStoreError(f"{e}; run `{store.run_id}` keeps what it had recorded: `nas resume "
                            f"{store.run_id}` continues once the problem is fixed") from e
    except BaseException as e:
        _mark(store, "failed", error=f"{type(e).__name__}: {e}"[:2000])
        raise
    finally:
        store.unlock()


def _mark(store: RunStore, status: str, **fields: Any) -> None:
    """Records why a run stopped; best effort, since the cause may be that nothing can be written."""
    try:
        store.update_manifest(status=status, **fields)
        store.event(status, **fields)
    except (RunStoreError, OSError):
        pass


def default_executor(evaluator: Evaluator, cfg: SearchConfig) -> Executor:
    """The executor the config asks for."""
    if cfg.execution.executor == "local":
        return LocalExecutor(evaluator)
    from nas.execution.ray_executor import RayExecutor

    return RayExecutor(evaluator, cfg.execution.workers, cfg.execution.ray_address)


def _execute(store: RunStore, hooks: Hooks, executor_factory: Callable[[Evaluator, SearchConfig], Executor]) -> RunOutcome:
    cfg = config_of(store)
    spec, task_name = check_names(cfg)
    manifest = store.update_manifest(status="training" if spec.trainable else "searching", pid=os.getpid())
    spent = Spent.from_dict(manifest.get("spent", {}))
    evaluator, spec = _evaluator(store, spec, task_name, cfg, hooks, spent, manifest)
    space = spec.build_space()
    store.update_manifest(status="searching")
    objectives, constraints = cfg.parsed_objectives(), cfg.parsed_constraints()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_before = _trial_count(store)
    strategy = make_strategy(cfg.strategy, derive_seed(cfg.seed, 2, n_before), cfg.pop_size())
    url, shared = cfg.storage or store.study_url, cfg.storage is not None
    study = open_study(url, cfg.study or STUDY_NAME, [o.direction for o in objectives], strategy.make_sampler())
    settled = reconcile(study, store.rows(), objectives, constraints, driver=store.run_id if shared else None)
    claims = Claims(url, cfg.study or STUDY_NAME, store.run_id)
    settled["released_claims"] = claims.release_unfinished(keep=[r["arch_id"] for r in store.rows()])
    if any(settled.values()):
        store.event("reconciled", **settled)
    # The recorded rows are the ledger of evaluations: a kill may have come before the manifest
    # caught up with them.
    spent.evaluations = sum(1 for r in store.rows() if r.get("state") == "complete")
    spent.failed = sum(1 for r in store.rows() if r.get("state") == "failed")
    strategy.bind(study, space, objectives, constraints)
    strategy.load_state_dict((store.read_json("strategy.json", {}) or {}).get("state", {}))
    budget = cfg.parsed_budget()
    _stage(hooks, "search", {"budget": budget.describe(), "evaluations": budget.evaluations,
                             "seconds": budget.seconds, "done": spent.evaluations, "spent_s": spent.seconds})
    with executor_factory(evaluator, cfg) as executor:
        loop = SearchLoop(study, space, strategy, executor, objectives, constraints, cfg.parsed_budget(),
                          _StoreRecorder(store), cfg.seed, spent, hooks.on_progress, claims=claims,
                          shared_budget=shared, driver=store.run_id)
        reason = loop.run()
    claims.close()
    _check_front(store, evaluator, objectives, hooks)
    store.write_json("front.json", front_payload(store, objectives))
    store.update_manifest(status="finished", stop_reason=reason, spent=spent.to_dict(), finished_at=_now())
    store.event("finished", reason=reason, evaluations=spent.evaluations)
    return RunOutcome(store, reason, spent)


def _evaluator(store: RunStore, spec: SpaceSpec, task_name: str, cfg: SearchConfig, hooks: Hooks,
               spent: Spent, manifest: dict[str, Any]) -> tuple[Any, SpaceSpec]:
    """The run's evaluator and searched spec: a table lookup, or the trained supernet (training it,
    with its sharing mode's phases, if needed)."""
    if not spec.trainable:
        if spec.build_evaluator is None:
            raise ConfigError(f"`space` {spec.name!r} must have a supernet or a table evaluator, got neither")
        return spec.build_evaluator(spec.build_space(), task_name, cfg.device), spec
    _stage(hooks, "load", {"task": task_name})
    task = TASKS.get(task_name).load(cfg.seed)
    mode = sharing_mode(cfg)
    ctx = SharingContext(store, spec, task, cfg, derive_seed(cfg.seed, 1), derive_seed(cfg.seed, 3),
                         hooks.on_epoch, hooks.on_stage)
    t0 = time.perf_counter()
    if not manifest.get("trained"):
        mode.learn(ctx)
    searched = mode.run_spec(spec, cfg, store)
    net = seeded_build(lambda: mode.build_supernet(searched, task, cfg, store), ctx.init_seed)
    if manifest.get("trained"):
        tensors, _ = load_checkpoint(store.file("supernet.safetensors"))
        net.load_state_dict(tensors)
    else:
        _train(store, net, mode, ctx, searched)
        spent.train_s += time.perf_counter() - t0
        store.update_manifest(trained=True, spent=spent.to_dict())
    from nas.profiling.search_hooks import search_latency_source

    _stage(hooks, "latency", {"device": cfg.device, "mode": cfg.latency_mode})
    evaluator = Evaluator(net.eval(), task, cfg.eval, latency=search_latency_source(cfg, net.eval(), task, store))
    return evaluator, searched


def _check_front(store: RunStore, evaluator: Any, objectives: Any, hooks: Hooks) -> None:
    """Re-measures the Pareto set on the device when latency came from a device or its model."""
    from nas.profiling.search_hooks import check_front
    from nas.profiling.sources import DeviceLatency, ModelLatency

    source = getattr(evaluator, "latency", None)
    if isinstance(source, (DeviceLatency, ModelLatency)):
        _stage(hooks, "front-check", {"device": source.profile.name})
        check_front(store, source, evaluator.supernet, objectives, protocol=evaluator.config.latency)


def _train(store: RunStore, net: Supernet, mode: SharingMode, ctx: SharingContext, searched: SpaceSpec) -> None:
    """Trains ``net`` with the mode's recipe, then writes the final weights and the sharing plan."""
    outer = ctx.on_epoch

    def on_epoch(stats: EpochStats) -> None:
        store.event("epoch", epoch=stats.epoch, loss_max=stats.loss_max, loss_sub=stats.loss_sub, seconds=stats.seconds)
        if outer is not None:
            outer(stats)

    mode.train(dataclasses.replace(ctx, on_epoch=on_epoch), net)
    store.write_json(PLAN_FILE, mode.plan(net, searched, ctx.cfg).to_dict())
    save_checkpoint(store.file("supernet.safetensors"), net.state_dict(),
                    {"space": net.space.name, "epochs": ctx.cfg.train.epochs, "task": ctx.task.name,
                     "sharing": mode.name})
    ctx.checkpoint.unlink(missing_ok=True)


def _trial_count(store: RunStore) -> int:
    if not store.file("study.db").exists():
        return 0
    try:
        summaries = optuna.get_all_study_summaries(store.study_url)
    except Exception:  # noqa: BLE001 - an unreadable study is reported by create_study below
        return 0
    return sum(s.n_trials for s in summaries)


def _stage(hooks: Hooks, name: str, info: dict[str, Any]) -> None:
    if hooks.on_stage is not None:
        hooks.on_stage(name, info)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _StoreRecorder:
    """Records loop rows and checkpoints into the run folder."""

    MANIFEST_EVERY_S = 1.0  # the budget ledger in the manifest; rows (the record) go out every time

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._manifest_at = -float("inf")

    def record(self, row: dict[str, Any]) -> None:
        self.store.add_row(row)
        self.store.event("evaluation", trial=row["trial"], arch_id=row["arch_id"], state=row["state"],
                         error=row.get("error", ""), worker=row.get("worker", ""))

    def checkpoint(self, strategy_state: dict[str, Any], spent: Spent) -> None:
        self.store.write_json("strategy.json", {"state": strategy_state}, indent=None)
        if time.monotonic() - self._manifest_at >= self.MANIFEST_EVERY_S:  # resume recounts evaluations from rows
            self.store.update_manifest(spent=spent.to_dict())
            self._manifest_at = time.monotonic()
