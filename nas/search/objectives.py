"""Objectives (``accuracy:max,latency_ms:min``) and constraints (``latency_ms<=2.5``)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nas.errors import invalid

__all__ = ["Objective", "Constraint", "parse_objectives", "parse_constraint", "KNOWN_METRICS"]

KNOWN_METRICS = ("accuracy", "latency_ms", "params", "macs")
_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}


@dataclass(frozen=True)
class Objective:
    """A metric and its direction (``maximize`` or ``minimize``)."""

    metric: str
    direction: str

    @property
    def sign(self) -> float:
        """+1 for minimise, -1 for maximise: multiply to get a loss to minimise."""
        return 1.0 if self.direction == "minimize" else -1.0

    def __str__(self) -> str:
        return f"{self.metric}:{'max' if self.direction == 'maximize' else 'min'}"


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound``; feasible when :meth:`violation` <= 0."""

    metric: str
    op: str
    bound: float

    def violation(self, metrics: Mapping[str, float]) -> float:
        """Optuna-style constraint value: <= 0 means satisfied."""
        v = float(metrics[self.metric])
        return v - self.bound if self.op == "<=" else self.bound - v

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_objectives(text: str | Sequence[str], metrics: Sequence[str] | None = None) -> tuple[Objective, ...]:
    """Parses ``accuracy:max,latency_ms:min`` (or a list of such items).

    Raises:
        ConfigError: naming ``objectives`` with the offending item.
    """
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    if not items or any(not s for s in items):
        raise invalid("objectives", "be a comma-separated list like accuracy:max,latency_ms:min", text)
    out = []
    for item in items:
        name, _, direction = item.partition(":")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or (metrics is not None and name not in metrics):
            allowed = f"name metrics among {list(metrics)}" if metrics is not None else "name metrics (identifiers)"
            raise invalid("objectives", allowed, name)
        if direction not in _DIRECTIONS:
            raise invalid("objectives", "give each metric a direction :max or :min", item)
        out.append(Objective(name, _DIRECTIONS[direction]))
    names = [o.metric for o in out]
    if len(set(names)) != len(names):
        raise invalid("objectives", "name each metric once", text)
    return tuple(out)


def parse_constraint(text: str, metrics: Sequence[str] | None = None) -> Constraint:
    """Parses ``latency_ms<=2.5`` or ``accuracy>=90``.

    Raises:
        ConfigError: naming ``constraint`` with the text received.
    """
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([^\s]+)\s*", str(text))
    if not m:
        raise invalid("constraint", "look like METRIC<=NUMBER or METRIC>=NUMBER", text)
    name, op, num = m.groups()
    if metrics is not None and name not in metrics:
        raise invalid("constraint", f"name a metric among {list(metrics)}", name)
    try:
        bound = float(num)
    except ValueError:
        raise invalid("constraint", "have a numeric bound", text) from None
    if not math.isfinite(bound):
        raise invalid("constraint", "have a finite bound", text)
    return Constraint(name, op, bound)
