"""A study storage that writes a running trial in one transaction instead of one per parameter.

Optuna's RDB storage commits every ``suggest`` (one transaction per choice of the space: 15 for
cnn1d) and every user or system attribute; on SQLite or PostgreSQL that is most of the search
loop's own time. :class:`BufferedStorage` wraps the storage Optuna would use and keeps the writes
to the running trials *this process* owns (created by its ``ask``, or popped from the waiting
queue by it) in memory, where every read of this process sees them, until:

- :meth:`BufferedStorage.flush` (the search loop calls it through :func:`flush_trial` before the
  evaluation starts, so a trial being evaluated is complete in the database: a driver killed
  mid-evaluation leaves the same trial it left before), or
- the trial's state is set (``study.tell``): its pending writes go first, then the state.

Each flush is one transaction of multi-row ``INSERT``s (attributes as upserts). Trials of other
drivers, finished trials and dialects without an upsert are written straight through.
"""

from __future__ import annotations

import copy
import datetime
import json
import threading
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.distributions import BaseDistribution, check_distribution_compatibility, distribution_to_json
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._rdb import models
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

__all__ = ["BufferedStorage", "flush_trial"]

_UPSERT_DIALECTS = ("sqlite", "postgresql")
SNAPSHOT_MAX_AGE_S = 1.0
"""How stale other drivers' trials may be in what the samplers read (this driver's own are exact)."""


@dataclass
class _Pending:
    """The writes of one owned running trial not yet in the database, and this process's view of it."""

    view: FrozenTrial
    params: dict[str, tuple[float, BaseDistribution]] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)

    def dirty(self) -> bool:
        return bool(self.params or self.user_attrs or self.system_attrs)


class BufferedStorage(BaseStorage):
    """Wraps an RDB storage; batches the writes of this process's running trials (module docstring).

    Args:
        rdb: The RDB storage (SQLite, PostgreSQL, ...). It is wrapped in Optuna's cached storage,
            as ``optuna.create_study`` would do.
    """

    def __init__(self, rdb: RDBStorage) -> None:
        self._rdb = rdb
        self._inner: BaseStorage = optuna.storages.get_storage(rdb)
        self._buffering = rdb.engine.name in _UPSERT_DIALECTS
        self._owned: dict[int, _Pending | None] = {}  # running trials this process writes
        self._dists: dict[str, BaseDistribution] = {}  # one storage per study
        self._snapshots: dict[int, list[FrozenTrial]] = {}  # every trial: read, plus this process's own
        self._read_at: dict[int, float] = {}
        self._finished: tuple[int, FrozenTrial] | None = None  # the trial told last, until read back
        self._lock = threading.RLock()

    # ---- the buffered part ----------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:  # noqa: D102
        trial_id = self._inner.create_new_trial(study_id, template_trial)
        with self._lock:
            view = self._created(trial_id) if template_trial is None else None
            if view is None:
                self._snapshots.clear()
            elif study_id in self._snapshots:
                self._snapshots[study_id].append(view)  # what a refresh would add
            if template_trial is None or template_trial.state == TrialState.RUNNING:
                self._owned[trial_id] = _Pending(view) if view is not None else None
        return trial_id

    def _created(self, trial_id: int) -> FrozenTrial | None:
        """The trial just created, as Optuna's cached storage recorded it (no read); ``None`` if
        that cache is not there (another Optuna version): the view is then read once."""
        try:
            study_id, number = self._inner._trial_id_to_study_id_and_number[trial_id]  # type: ignore[attr-defined]
            return _copy(self._inner._studies[study_id].trials[number])  # type: ignore[attr-defined]
        except (AttributeError, KeyError):
            return None

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,  # noqa: D102
                        distribution: BaseDistribution) -> None:
        with self._lock:
            pending = self._pending(trial_id)
            if pending is None:
                self._snapshots.clear()
                self._inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)
                return
            previous = self._dists.setdefault(param_name, distribution)
            check_distribution_compatibility(previous, distribution)
            pending.params[param_name] = (float(param_value_internal), distribution)
            pending.view.params = pending.view.params | {param_name: distribution.to_external_repr(param_value_internal)}
            pending.view.distributions = pending.view.distributions | {param_name: distribution}

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:  # noqa: D102
        with self._lock:
            pending = self._pending(trial_id)
            if pending is None:
                self._snapshots.clear()
                self._inner.set_trial_user_attr(trial_id, key, value)
                return
            pending.user_attrs[key] = value
            pending.view.user_attrs = pending.view.user_attrs | {key: value}

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:  # noqa: D102
        with self._lock:
            pending = self._pending(trial_id)
            if pending is None:
                self._snapshots.clear()
                self._inner.set_trial_system_attr(trial_id, key, value)
                return
            pending.system_attrs[key] = value
            pending.view.system_attrs = pending.view.system_attrs | {key: value}

    def set_trial_state_values(self, trial_id: int, state: TrialState,  # noqa: D102
                               values: Sequence[float] | None = None) -> bool:
        with self._lock:
            self.flush(trial_id)
            done = self._inner.set_trial_state_values(trial_id, state, values)
            pending = self._owned.pop(trial_id, None) if state.is_finished() else None
            if pending is None:
                self._snapshots.clear()
            else:  # ``Study.tell`` reads it back once, and the snapshot holds it: answer from memory
                view = pending.view
                view.state = state
                view.values = None if values is None else [float(v) for v in values]
                view.datetime_complete = datetime.datetime.now()
                self._finished = (trial_id, view)
                self._into_snapshots(view)
            if state == TrialState.RUNNING and done:
                self._owned[trial_id] = None  # popped from the waiting queue by this process
            return done

    def _into_snapshots(self, view: FrozenTrial) -> None:
        """Puts a finished trial into the snapshots where a refresh had put its running version."""
        for snapshot in self._snapshots.values():
            for i in range(len(snapshot) - 1, -1, -1):  # trials in flight sit at the end
                if snapshot[i]._trial_id == view._trial_id:
                    snapshot[i] = view
                    break

    def flush(self, trial_id: int) -> None:
        """Writes the pending parameters and attributes of ``trial_id`` in one transaction."""
        with self._lock:
            pending = self._owned.get(trial_id)
            if pending is None or not pending.dirty():
                return
            with self._rdb.engine.begin() as conn:
                if pending.params:
                    conn.execute(sa.insert(models.TrialParamModel.__table__), [
                        {"trial_id": trial_id, "param_name": k, "param_value": v,
                         "distribution_json": distribution_to_json(d)} for k, (v, d) in pending.params.items()])
                for model, attrs in ((models.TrialUserAttributeModel, pending.user_attrs),
                                     (models.TrialSystemAttributeModel, pending.system_attrs)):
                    if attrs:
                        conn.execute(self._upsert(model), [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                                                           for k, v in attrs.items()])
            pending.params, pending.user_attrs, pending.system_attrs = {}, {}, {}

    def get_trial(self, trial_id: int) -> FrozenTrial:  # noqa: D102
        with self._lock:
            if self._finished is not None and self._finished[0] == trial_id:
                view, self._finished = self._finished[1], None
                return view
            pending = self._pending(trial_id)
            if pending is not None:
                return _copy(pending.view)
        return self._inner.get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,  # noqa: D102
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        if states is not None and tuple(states) == (TrialState.WAITING,) and not self._any_waiting(study_id):
            return []  # ``Study.ask`` looks for queued trials every time: one COUNT, not a refresh
        with self._lock:
            snapshot = self._snapshots.get(study_id)
            if snapshot is None or time.monotonic() - self._read_at.get(study_id, 0.0) > SNAPSHOT_MAX_AGE_S:
                snapshot = self._snapshots[study_id] = list(self._inner.get_all_trials(study_id, deepcopy=False))
                self._read_at[study_id] = time.monotonic()
            views = {p.view._trial_id: p.view for p in self._owned.values() if p is not None and p.dirty()}
        trials = [views.get(t._trial_id, t) for t in snapshot if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def _pending(self, trial_id: int) -> _Pending | None:
        """The buffer of an owned running trial (made on first use); ``None``: write through."""
        if not self._buffering or trial_id not in self._owned:
            return None
        pending = self._owned[trial_id]
        if pending is None:
            pending = _Pending(self._inner.get_trial(trial_id))
            self._owned[trial_id] = pending
        return pending

    def _any_waiting(self, study_id: int) -> bool:
        table = models.TrialModel.__table__
        query = sa.select(sa.func.count()).select_from(table).where(
            table.c.study_id == study_id, table.c.state == TrialState.WAITING)
        with self._rdb.engine.connect() as conn:
            return bool(conn.execute(query).scalar())

    def _upsert(self, model: Any) -> Any:
        table = model.__table__
        if self._rdb.engine.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        return stmt.on_conflict_do_update(index_elements=[table.c.trial_id, table.c.key],
                                          set_={"value_json": stmt.excluded.value_json})

    # ---- passed through -------------------------------------------------------------------
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:  # noqa: D102
        return self._inner.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:  # noqa: D102
        self._snapshots.clear()
        self._inner.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:  # noqa: D102
        self._snapshots.clear()
        self._inner.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:  # noqa: D102
        self._snapshots.clear()
        self._inner.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:  # noqa: D102
        return self._inner.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:  # noqa: D102
        return self._inner.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:  # noqa: D102
        return self._inner.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:  # noqa: D102
        return self._inner.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:  # noqa: D102
        return self._inner.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:  # noqa: D102
        return self._inner.get_all_studies()

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:  # noqa: D102
        return self._inner.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:  # noqa: D102
        self.flush(trial_id)
        self._snapshots.clear()
        self._inner.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def remove_session(self) -> None:
        """Releases the RDB storage's session (as :class:`RDBStorage` does)."""
        self._rdb.remove_session()


def _copy(view: FrozenTrial) -> FrozenTrial:
    """A copy whose mappings the caller may change (Optuna's ``Trial`` updates its own copy)."""
    out = copy.copy(view)
    out.params, out.distributions = dict(view.params), dict(view.distributions)
    out.user_attrs, out.system_attrs = dict(view.user_attrs), dict(view.system_attrs)
    out.intermediate_values = dict(view.intermediate_values)
    return out


def flush_trial(trial: optuna.trial.Trial) -> None:
    """Writes a running trial's pending writes now, when its study's storage buffers them."""
    storage = trial.storage
    if isinstance(storage, BufferedStorage):
        storage.flush(trial._trial_id)
