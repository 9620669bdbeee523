"""The :class:`Executor` contract: run evaluations somewhere, hand back outcomes as they finish.

Call sequence (the search loop)::

    executor.start()                 # workers up, supernet shipped once
    executor.submit(job) ...         # up to executor.capacity jobs in flight
    outcomes = executor.wait(timeout)  # those that finished (possibly none)
    executor.close()

A job whose worker *process dies* is retried once on a fresh worker; if that fails too, or the
evaluation raised an exception, the outcome carries the reason and no metrics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from nas.space import Arch

__all__ = ["Job", "Outcome", "Executor"]


@dataclass(frozen=True)
class Job:
    """One evaluation to run: a key (the study trial number), an architecture and a seed."""

    key: int
    arch: Arch
    seed: int


@dataclass(frozen=True)
class Outcome:
    """The result of a :class:`Job`.

    Attributes:
        job: The job.
        metrics: Metrics on success, ``None`` on failure.
        error: Why it failed (``None`` on success).
        worker: Which worker ran the last attempt (``node:pid``).
        attempts: How many attempts were made (2 after a retry).
        seconds: Wall time from submission to completion.
    """

    job: Job
    metrics: dict[str, float] | None
    error: str | None = None
    worker: str = ""
    attempts: int = 1
    seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the evaluation succeeded."""
        return self.metrics is not None


class Executor(ABC):
    """Base class of executors. ``capacity`` is the number of jobs worth keeping in flight."""

    capacity: int = 1

    def start(self) -> None:
        """Starts workers (hook; nothing by default)."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Queues ``job``."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Returns outcomes of finished jobs, blocking up to ``timeout`` for at least one."""

    @abstractmethod
    def pending(self) -> int:
        """Number of submitted jobs without an outcome yet."""

    def close(self) -> None:
        """Stops workers (hook; nothing by default)."""

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
