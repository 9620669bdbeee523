"""The search budget: a serialisable dataclass checked at every loop step (Syne Tune style).

``--budget 300`` means 300 evaluations; ``--budget 10m`` (or ``90s``, ``1.5h``) means wall-clock
time. Both may be set; whichever ends first stops the search. What was spent is carried across
``nas resume`` so that a resumed run only spends what is left.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from nas.errors import invalid

__all__ = ["Budget", "Spent", "parse_budget"]

_TIME_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Budget:
    """Limits of a search. ``None`` means unlimited on that axis (at least one must be set).

    Attributes:
        evaluations: Completed evaluations (distinct architectures).
        seconds: Wall-clock seconds of search (training excluded), summed over resumes.
    """

    evaluations: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.evaluations is None and self.seconds is None:
            raise invalid("budget", "set evaluations or seconds", None)
        if self.evaluations is not None and (isinstance(self.evaluations, bool) or self.evaluations <= 0):
            raise invalid("budget.evaluations", "be a positive integer", self.evaluations)
        if self.seconds is not None and not self.seconds > 0:
            raise invalid("budget.seconds", "be positive", self.seconds)

    def exhausted(self, spent: Spent) -> str | None:
        """Why the budget is spent, or ``None`` while there is some left."""
        if self.evaluations is not None and spent.evaluations >= self.evaluations:
            return f"evaluation budget spent ({spent.evaluations}/{self.evaluations})"
        if self.seconds is not None and spent.seconds >= self.seconds:
            return f"time budget spent ({spent.seconds:.0f}s/{self.seconds:.0f}s)"
        return None

    def remaining_evaluations(self, spent: Spent) -> int | None:
        """Evaluations left, or ``None`` when unlimited."""
        return None if self.evaluations is None else max(0, self.evaluations - spent.evaluations)

    def describe(self) -> str:
        """Short human form, e.g. ``40 evals`` or ``10m``."""
        parts = []
        if self.evaluations is not None:
            parts.append(f"{self.evaluations} evals")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g}s")
        return " / ".join(parts)


@dataclass
class Spent:
    """What has been spent so far: the cost ledger.

    Attributes:
        evaluations: Completed, distinct evaluations.
        failed: Evaluations that failed after their retry.
        seconds: Wall-clock seconds of search.
        train_s: Supernet training seconds.
        eval_s: Summed evaluation seconds (on workers).
        device_s: Summed latency-measurement seconds.
    """

    evaluations: int = 0
    failed: int = 0
    seconds: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    device_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spent:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def parse_budget(text: str | int | float) -> Budget:
    """Parses a CLI/config budget: an integer count of evaluations or a duration.

    Examples: ``300`` → 300 evaluations; ``10m`` → 600 s; ``90s``; ``1.5h``.

    Raises:
        ConfigError: naming ``budget`` when the text is neither.
    """
    if isinstance(text, bool):
        raise invalid("budget", "be an evaluation count or a duration like 10m", text)
    if isinstance(text, int):
        if text <= 0:
            raise invalid("budget", "be positive (an evaluation count or a duration like 10m)", text)
        return Budget(evaluations=text)
    if isinstance(text, float):
        if text.is_integer():
            return Budget(evaluations=int(text))
        raise invalid("budget", "be a whole number of evaluations or a duration like 10m", text)
    s = str(text).strip().lower()
    if re.fullmatch(r"[+-]?\d+", s):
        if int(s) <= 0:
            raise invalid("budget", "be positive (an evaluation count or a duration like 10m)", text)
        return Budget(evaluations=int(s))
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*([smh])", s)
    if m:
        if float(m.group(1)) <= 0:
            raise invalid("budget", "be positive (an evaluation count or a duration like 10m)", text)
        return Budget(seconds=float(m.group(1)) * _TIME_UNITS[m.group(2)])
    raise invalid("budget", "be an evaluation count (e.g. 300) or a duration (e.g. 10m, 90s, 1h)", text)
