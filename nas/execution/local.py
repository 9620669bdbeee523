"""In-process execution: evaluations run one at a time in the driver (tests, laptops)."""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections import deque
from typing import Protocol

from nas.execution.base import Executor, Job, Outcome
from nas.space import Arch

__all__ = ["SupportsEvaluate", "LocalExecutor"]


class SupportsEvaluate(Protocol):
    """Anything with ``evaluate(arch, seed) -> metrics`` (an :class:`nas.evaluate.Evaluator`)."""

    def evaluate(self, arch: Arch, seed: int) -> dict[str, float]:
        """Scores one architecture."""
        ...


class LocalExecutor(Executor):
    """Runs each job in-process when :meth:`wait` is called.

    Args:
        evaluator: What scores an architecture.
    """

    capacity = 1

    def __init__(self, evaluator: SupportsEvaluate) -> None:
        self.evaluator = evaluator
        self._queue: deque[Job] = deque()
        self._worker = f"{socket.gethostname()}:{os.getpid()}"

    def submit(self, job: Job) -> None:  # noqa: D102
        self._queue.append(job)

    def pending(self) -> int:  # noqa: D102
        return len(self._queue)

    def wait(self, timeout: float | None = None) -> list[Outcome]:  # noqa: D102
        if not self._queue:
            return []
        job = self._queue.popleft()
        t0 = time.perf_counter()
        try:
            metrics = self.evaluator.evaluate(job.arch, job.seed)
        except Exception as e:  # an evaluation bug must not stop the search: record it
            reason = f"{type(e).__name__}: {e} | {traceback.format_exc(limit=3)}"
            return [Outcome(job, None, reason, self._worker, 1, time.perf_counter() - t0)]
        return [Outcome(job, metrics, None, self._worker, 1, time.perf_counter() - t0)]
