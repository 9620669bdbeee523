"""Choosing the trial to export: ``--trial N``, ``--arch-id ID`` or ``--pick "latency_ms<=2,max:accuracy"``.

A pick is a comma-separated list of constraints (``METRIC<=NUMBER``, ``METRIC>=NUMBER``) and
objectives (``max:METRIC`` or ``min:METRIC``, also ``METRIC:max``). Among the completed trials
that satisfy every constraint, the best by the first objective is chosen; later objectives
break ties, then the lower trial number. Without an objective, the run's first objective is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas.errors import UserInputError, invalid
from nas.results import completed, objectives_of
from nas.search.objectives import Constraint, Objective, parse_constraint, parse_objectives
from nas.store import RunStore

__all__ = ["Pick", "parse_pick", "select_trial"]


@dataclass(frozen=True)
class Pick:
    """A parsed ``--pick``: constraints to satisfy, objectives to rank by (may be empty)."""

    constraints: tuple[Constraint, ...]
    objectives: tuple[Objective, ...]


def parse_pick(text: str, metrics: Sequence[str] | None = None) -> Pick:
    """Parses ``latency_ms<=2,max:accuracy``.

    Raises:
        ConfigError: naming ``--pick``, the rule and the item received.
    """
    items = [s.strip() for s in str(text).split(",")]
    if not items or any(not s for s in items):
        raise invalid("--pick", "be comma-separated constraints and objectives like latency_ms<=2,max:accuracy", text)
    constraints: list[Constraint] = []
    objectives: list[str] = []
    for item in items:
        if "<" in item or ">" in item or "=" in item:
            constraints.append(parse_constraint(item, metrics))
            continue
        head, sep, tail = item.partition(":")
        if not sep:
            raise invalid("--pick", "give objectives as max:METRIC or min:METRIC", item)
        objectives.append(f"{tail}:{head}" if head in ("max", "min") else item)
    parsed = parse_objectives(objectives, metrics) if objectives else ()
    return Pick(tuple(constraints), tuple(parsed))


def _trial_rows(store: RunStore) -> list[dict[str, Any]]:
    df = completed(store.trials())
    if df.empty:
        raise UserInputError(f"run `{store.run_id}` must have completed trials to export, got none")
    return df.to_dict("records")


def _satisfies(row: dict[str, Any], constraints: Sequence[Constraint]) -> bool:
    for c in constraints:
        v = row.get(c.metric)
        if v is None or not math.isfinite(float(v)) or c.violation(row) > 0:
            return False
    return True


def _by_pick(store: RunStore, rows: list[dict[str, Any]], text: str) -> dict[str, Any]:
    metrics = sorted(k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    pick = parse_pick(text, metrics)
    objectives = pick.objectives or objectives_of(store)[:1]
    ok = [r for r in rows if _satisfies(r, pick.constraints)]
    if not ok:
        spans = ", ".join(
            f"{c.metric} ranges {min(float(r[c.metric]) for r in rows):.4g}..{max(float(r[c.metric]) for r in rows):.4g}"
            for c in pick.constraints
        )
        raise UserInputError(
            f"`--pick` must match at least one completed trial of run `{store.run_id}`, got {text!r} "
            f"matching 0 of {len(rows)} ({spans})"
        )
    return min(ok, key=lambda r: (*(o.sign * float(r[o.metric]) for o in objectives), int(r["trial"])))


def select_trial(store: RunStore, *, trial: int | None = None, arch_id: str | None = None, pick: str | None = None) -> dict[str, Any]:
    """The completed trial row to export, chosen by exactly one of ``trial``, ``arch_id``, ``pick``.

    Raises:
        UserInputError: when not exactly one selector is given, or it names no completed trial.
    """
    given = [name for name, v in (("--trial", trial), ("--arch-id", arch_id), ("--pick", pick)) if v is not None]
    if len(given) != 1:
        raise invalid("selector", "be exactly one of --trial, --arch-id, --pick", given or None)
    rows = _trial_rows(store)
    if pick is not None:
        return _by_pick(store, rows, pick)
    key, value = ("trial", int(trial)) if trial is not None else ("arch_id", str(arch_id))  # type: ignore[arg-type]
    for r in rows:
        if (int(r["trial"]) if key == "trial" else str(r["arch_id"])) == value:
            return r
    known = sorted(int(r["trial"]) for r in rows) if key == "trial" else sorted(str(r["arch_id"]) for r in rows)
    shown = ", ".join(map(str, known[:12])) + (", ..." if len(known) > 12 else "")
    raise UserInputError(f"`{given[0]}` must name a completed trial of run `{store.run_id}` ({shown}), got {value!r}")
