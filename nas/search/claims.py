"""Claims: drivers sharing one study claim an architecture before evaluating it.

A claim is a row ``(study, arch_id)`` with a primary key in the study's own database (SQLite or
any SQLAlchemy URL, e.g. PostgreSQL), so the ``INSERT`` is the atomic test-and-set: of several
drivers proposing the same architecture at once, exactly one wins. Claims also carry the shared
budget: evaluations done plus evaluations in progress, over every driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from nas.errors import ConfigError, NASError

__all__ = ["BudgetFull", "Claims", "check_storage_url", "open_study", "study_storage"]

_META = sa.MetaData()
_TABLE = sa.Table(
    "sharenas_claims", _META,
    sa.Column("study", sa.String(255), primary_key=True),
    sa.Column("arch_id", sa.String(64), primary_key=True),
    sa.Column("driver", sa.String(255), nullable=False),
    sa.Column("trial", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # claimed | done | failed
    sa.Column("t", sa.Float, nullable=False),
)
_LOCKS = sa.Table(  # one row per study, locked while a claim checks the shared budget
    "sharenas_claim_locks", _META,
    sa.Column("study", sa.String(255), primary_key=True),
)
_RETRIES = 20


class BudgetFull(NASError):
    """The study's shared evaluation budget is taken by finished and claimed evaluations."""


def check_storage_url(url: str) -> str:
    """Validates a SQLAlchemy URL; raises :class:`ConfigError` naming ``storage`` otherwise."""
    try:
        sa.engine.make_url(url)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy raises ArgumentError and ValueError variants
        raise ConfigError(f"`storage` must be a SQLAlchemy URL like postgresql://user@host/db, got {url!r}") from e
    return url


class Claims:
    """The claims of one study, held by one driver.

    Args:
        url: SQLAlchemy URL of the study's storage.
        study: Study name.
        driver: This driver's id (its run id).
    """

    def __init__(self, url: str, study: str, driver: str) -> None:
        self.study, self.driver = study, driver
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        _racing(lambda: self._retry(lambda c: _META.create_all(c, checkfirst=True)))
        try:
            self._retry(lambda c: c.execute(_LOCKS.insert().values(study=study)))
        except IntegrityError:
            pass  # another driver made the study's lock row

    def _retry(self, fn):  # noqa: ANN001, ANN202 - small internal helper
        """Runs ``fn(connection)`` in a transaction, retrying briefly on lock contention."""
        delay = 0.05
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except OperationalError:
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(delay)
                delay = min(1.0, delay * 2)
        return None

    def claim(self, arch_id: str, trial: int, limit: int | None = None) -> bool:
        """Claims ``arch_id`` for this driver; False when any driver already holds it.

        Args:
            arch_id: The architecture.
            trial: This driver's study trial that will evaluate it.
            limit: The study's evaluation budget: the claim is refused (``BudgetFull``) when
                finished and claimed evaluations of every driver already reach it. The check and
                the insert are one transaction holding the study's lock row, so two drivers
                cannot both take the last evaluation.

        Raises:
            BudgetFull: when ``limit`` is reached.
        """
        row = {"study": self.study, "arch_id": arch_id, "driver": self.driver, "trial": trial,
               "state": "claimed", "t": time.time()}

        def run(c: Any) -> bool:
            if limit is not None:
                c.execute(sa.select(_LOCKS.c.study).where(_LOCKS.c.study == self.study).with_for_update())
                taken = c.execute(sa.select(sa.func.count()).select_from(_TABLE).where(
                    _TABLE.c.study == self.study, _TABLE.c.state.in_(("claimed", "done")))).scalar_one()
                if int(taken) >= limit:
                    return False
            c.execute(_TABLE.insert().values(**row))
            return True

        try:
            if not self._retry(run):
                raise BudgetFull(f"the study's budget of {limit} evaluations is taken")
        except IntegrityError:
            return False
        return True

    def finish(self, arch_id: str, ok: bool) -> None:
        """Marks this driver's claim done (or failed, so no driver retries a broken arch)."""
        stmt = (_TABLE.update()
                .where(_TABLE.c.study == self.study, _TABLE.c.arch_id == arch_id, _TABLE.c.driver == self.driver)
                .values(state="done" if ok else "failed", t=time.time()))
        self._retry(lambda c: c.execute(stmt))

    def release_unfinished(self, keep: Iterable[str] = ()) -> int:
        """Drops this driver's open claims (after a kill) except ``keep``; returns how many."""
        keep = set(keep)

        def run(c: sa.Connection) -> int:
            rows = c.execute(sa.select(_TABLE.c.arch_id).where(
                _TABLE.c.study == self.study, _TABLE.c.driver == self.driver, _TABLE.c.state == "claimed")).all()
            drop = [r[0] for r in rows if r[0] not in keep]
            if drop:
                c.execute(_TABLE.delete().where(_TABLE.c.study == self.study, _TABLE.c.driver == self.driver,
                                                _TABLE.c.arch_id.in_(drop)))
            return len(drop)

        return int(self._retry(run))

    def counts(self) -> dict[str, int]:
        """Claims of the study by state, over every driver."""
        stmt = (sa.select(_TABLE.c.state, sa.func.count()).where(_TABLE.c.study == self.study)
                .group_by(_TABLE.c.state))
        rows = self._retry(lambda c: c.execute(stmt).all())
        return {state: int(n) for state, n in rows}

    def close(self) -> None:
        """Releases the connection pool."""
        self.engine.dispose()


def _racing(fn):  # noqa: ANN001, ANN202 - small internal helper
    """Runs ``fn``, retrying when another driver created the same schema at the same moment.

    Two drivers starting together on an empty database both see the tables missing and both
    issue ``CREATE``; the loser gets a unique violation (PostgreSQL) or ``table ... already
    exists`` (SQLite, an ``OperationalError``). A retry finds the schema in place. Other
    operational errors are not retried here.
    """
    for attempt in range(_RETRIES):
        try:
            return fn()
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            lost_race = not isinstance(exc, OperationalError) or "already exists" in str(exc)
            if not lost_race or attempt == _RETRIES - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    return None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Write-ahead log, and no fsync per commit (only at checkpoints).

    Optuna commits once per suggested parameter and per user attribute: about 16 commits per
    evaluation, each an fsync in SQLite's default mode (19 ms each measured on this machine's
    disk under load, 470 ms of loop overhead per evaluation). In WAL mode with ``synchronous=NORMAL``
    a commit survives a killed process, which is what resume needs; only an OS crash or power loss
    can drop the last commits, and the run's ledger (``trials.parquet``) is reconciled on resume.
    """
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def study_storage(url: str) -> str | optuna.storages.RDBStorage:
    """The Optuna storage for ``url``: SQLite files get WAL mode without per-commit fsync."""
    if not url.startswith("sqlite"):
        return url
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    sa.event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # connections opened before the listener was attached are dropped
    return storage


def open_study(url: str, name: str, directions: list[str], sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    """Creates or loads the study ``name`` in ``url``, safe against drivers starting together.

    The storage batches the writes of this driver's running trials into one transaction per
    flush (:mod:`nas.search.study_buffer`) instead of one per parameter and attribute.
    """
    from nas.search.study_buffer import BufferedStorage

    def make() -> optuna.Study:
        storage = study_storage(url)
        rdb = storage if isinstance(storage, optuna.storages.RDBStorage) else optuna.storages.RDBStorage(storage)
        return optuna.create_study(storage=BufferedStorage(rdb), study_name=name, load_if_exists=True,
                                   directions=directions, sampler=sampler)

    return _racing(make)
