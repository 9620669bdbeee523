"""Evaluations on Ray workers.

``RayExecutor`` starts ``num_workers`` actors. The evaluator (which holds the trained supernet)
is put into the object store once; each actor receives it once at start, and afterwards only
``(arch, seed)`` travels. ``ray.init()`` with no address starts a local cluster; an address
joins an existing one. When a worker process dies mid-evaluation (``RayActorError``) the actor
is replaced and the job retried once; a second death, or an exception raised by the evaluation,
fails the job with the reason. A replacement actor joins the pool only once it has started, so
when a whole node is lost its jobs go to the surviving workers while the replacement waits for
capacity (the pool shrinks instead of hanging). ``start`` waits, bounded, for the first worker:
resources that no node holds are a clear error, not a hang.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from nas.execution.base import Executor, Job, Outcome
from nas.execution.local import SupportsEvaluate
from nas.space import Arch

__all__ = ["RayExecutor", "EvalWorker", "ensure_ray"]

MAX_ATTEMPTS = 2
START_TIMEOUT_S = 120.0


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connects to Ray, starting a local cluster when ``address`` is ``None``.

    Returns:
        True when this call started (and so owns) the connection.
    """
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    else:  # "local": start a cluster of our own, never attach to whatever else runs on the machine
        kwargs["address"] = "local"
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        kwargs["_temp_dir"] = os.environ.get("SHARENAS_RAY_TMP", os.path.join(tempfile.gettempdir(), "ray_sn"))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(**kwargs)
    return True


@ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)
class EvalWorker:
    """A Ray actor holding one evaluator (shipped once through the object store)."""

    def __init__(self, evaluator: SupportsEvaluate, threads: int = 1) -> None:
        import torch

        torch.set_num_threads(threads)
        self.evaluator = evaluator
        ctx = ray.get_runtime_context()
        self.where = f"{ctx.get_node_id()[:8]}:{os.getpid()}"

    def evaluate(self, arch: Arch, seed: int) -> tuple[dict[str, float], str]:
        """Scores ``arch`` and says where it ran."""
        return self.evaluator.evaluate(arch, seed), self.where

    def whereami(self) -> str:
        """``node:pid`` of this worker (tests use it to kill the process)."""
        return self.where


@dataclass
class _InFlight:
    job: Job
    worker: int
    attempts: int
    submitted: float


class RayExecutor(Executor):
    """Runs jobs on Ray actors, one job per actor at a time.

    Args:
        evaluator: The evaluator to ship to every worker.
        num_workers: Number of actors.
        address: Ray address to join; ``None`` starts (or reuses) a local cluster.
        resources: Extra Ray resources each actor needs (e.g. ``{"testdevice": 1}``).
        threads: torch threads per worker.
        start_timeout: Seconds ``start`` waits for the first worker to come up.
    """

    def __init__(self, evaluator: SupportsEvaluate, num_workers: int = 2, address: str | None = None,
                 resources: dict[str, float] | None = None, threads: int = 1,
                 start_timeout: float = START_TIMEOUT_S) -> None:
        if num_workers <= 0:
            raise ValueError(f"`num_workers` must be positive, got {num_workers}")
        self.evaluator, self.num_workers, self.address = evaluator, num_workers, address
        self.resources, self.threads, self.start_timeout = dict(resources or {}), threads, start_timeout
        self.capacity = num_workers
        self._owns_ray = False
        self._evaluator_ref: ray.ObjectRef | None = None
        self._actors: list[Any] = []
        self._idle: list[int] = []
        self._queue: list[tuple[Job, int]] = []
        self._inflight: dict[ray.ObjectRef, _InFlight] = {}
        self._starting: dict[ray.ObjectRef, int] = {}

    def start(self) -> None:  # noqa: D102
        self._owns_ray = ensure_ray(self.address)
        self._evaluator_ref = ray.put(self.evaluator)
        self._actors = [self._new_actor() for _ in range(self.num_workers)]
        self._starting = {a.whereami.remote(): w for w, a in enumerate(self._actors)}
        ready, _ = ray.wait(list(self._starting), num_returns=1, timeout=self.start_timeout)
        if not ready:
            self.close()
            need = {"CPU": 1, **self.resources}
            raise RuntimeError(f"no Ray worker could start within {self.start_timeout:.0f} s: no node has "
                               f"free resources {need} (cluster has {ray.cluster_resources()})")
        self._settle_starting(timeout=0)

    def _new_actor(self) -> Any:
        opts: dict[str, Any] = {"resources": self.resources} if self.resources else {}
        return EvalWorker.options(**opts).remote(self._evaluator_ref, self.threads)

    def workers(self) -> list[str]:
        """``node:pid`` of every actor (waits for them to start)."""
        return ray.get([a.whereami.remote() for a in self._actors])

    def _settle_starting(self, timeout: float | None) -> None:
        """Moves started actors into the idle pool; an actor that died while starting is dropped."""
        if not self._starting:
            return
        ready, _ = ray.wait(list(self._starting), num_returns=len(self._starting), timeout=timeout)
        for ref in ready:
            w = self._starting.pop(ref)
            try:
                ray.get(ref, timeout=10)
            except (RayActorError, RayTaskError, GetTimeoutError):
                continue  # the slot stays empty: capacity shrinks rather than looping on a lost node
            self._idle.append(w)

    def submit(self, job: Job) -> None:  # noqa: D102
        self._queue.append((job, 1))
        self._dispatch()

    def pending(self) -> int:  # noqa: D102
        return len(self._queue) + len(self._inflight)

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            job, attempt = self._queue.pop(0)
            w = self._idle.pop(0)
            ref = self._actors[w].evaluate.remote(job.arch, job.seed)
            self._inflight[ref] = _InFlight(job, w, attempt, time.perf_counter())

    def wait(self, timeout: float | None = None) -> list[Outcome]:  # noqa: D102
        self._settle_starting(timeout=0)
        self._dispatch()
        if not self._inflight and not (self._queue and self._starting):
            return []
        ready, _ = ray.wait([*self._inflight, *self._starting], num_returns=1, timeout=timeout)
        outcomes = [o for ref in ready if ref in self._inflight and (o := self._collect(ref)) is not None]
        self._settle_starting(timeout=0)
        self._dispatch()
        return outcomes

    def _collect(self, ref: ray.ObjectRef) -> Outcome | None:
        f = self._inflight.pop(ref)
        elapsed = time.perf_counter() - f.submitted
        try:
            metrics, where = ray.get(ref, timeout=60)
        except RayActorError as e:
            self._actors[f.worker] = self._new_actor()  # replace the dead worker; it joins once started
            self._starting[self._actors[f.worker].whereami.remote()] = f.worker
            if f.attempts < MAX_ATTEMPTS:
                self._queue.insert(0, (f.job, f.attempts + 1))
                return None
            return Outcome(f.job, None, f"worker died twice: {type(e).__name__}: {str(e).splitlines()[0]}", "", f.attempts, elapsed)
        except (RayTaskError, GetTimeoutError) as e:
            self._idle.append(f.worker)
            cause = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            return Outcome(f.job, None, f"evaluation raised: {cause}", "", f.attempts, elapsed)
        self._idle.append(f.worker)
        return Outcome(f.job, metrics, None, where, f.attempts, elapsed)

    def close(self) -> None:  # noqa: D102
        for a in self._actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - an already-dead actor is fine to ignore at shutdown
                pass
        self._actors, self._inflight, self._queue, self._starting = [], {}, [], {}
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
