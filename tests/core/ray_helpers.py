"""Evaluators for Ray tests; pickled by value so that workers need not import the tests package."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nas.space import Arch


class ScriptedEvaluator:
    """Metrics from the architecture; the worker process dies on chosen architectures.

    Args:
        die_always: arch ids whose evaluation kills the worker every time.
        die_once_dir: a folder; an arch listed in ``die_once`` kills the worker only the first time
            (a marker file records that it already died).
        die_once: arch ids that kill their first worker.
        delay: seconds each evaluation sleeps.
    """

    def __init__(self, die_always=(), die_once=(), die_once_dir: str = "", delay: float = 0.0) -> None:
        self.die_always, self.die_once = set(die_always), set(die_once)
        self.die_once_dir, self.delay = die_once_dir, delay

    def evaluate(self, arch: Arch, seed: int) -> dict[str, float]:
        if arch.arch_id in self.die_always:
            os._exit(17)
        if arch.arch_id in self.die_once:
            marker = Path(self.die_once_dir) / arch.arch_id
            if not marker.exists():
                marker.write_text("died")
                os._exit(17)
        time.sleep(self.delay)
        size = sum(float(v) for _, v in arch.items)
        return {"accuracy": 50 + size / 10, "latency_ms": size / 100, "pid": float(os.getpid())}
