"""Executors: where evaluations run (in-process or on Ray workers)."""

from nas.execution.base import Executor, Job, Outcome
from nas.execution.local import LocalExecutor

__all__ = ["Executor", "Job", "Outcome", "LocalExecutor"]
