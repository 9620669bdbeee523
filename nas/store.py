"""The run folder ``runs/<run-id>/``: everything needed to resume, browse and export a run.

Files: ``config.yaml`` (resolved), ``study.db`` (Optuna RDB storage), ``trials.jsonl`` (the
journal: one JSON line appended per finished evaluation), ``trials.parquet`` (the same rows as a
table, materialised when the journal's tail grows long and when the writer ends), ``front.json``, ``supernet.safetensors``, ``events.jsonl``,
``manifest.json`` (versions, seeds, status, budget spent) and ``strategy.json`` (strategy
state). Every file is written atomically; a run can be read while another process writes it.
A writer holds an exclusive lock on ``.lock`` so that two drivers never write one run.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import io
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from nas.checkpoint import atomic_write_bytes, atomic_write_text
from nas.errors import RunStoreError
from nas.journal import append_line, prepare, read_rows

__all__ = ["RunStore", "RUN_ID_RE", "resolve_run"]

JOURNAL = "trials.jsonl"
TABLE = "trials.parquet"
MATERIALISE_MIN_TAIL = 500
"""Rows journalled beyond the table before it is rewritten (then: once the tail is as long as it)."""
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATUSES = ("created", "training", "searching", "finished", "failed", "stopped")


def resolve_run(runs_dir: str | Path, run: str) -> Path:
    """Turns a run id (or a path to a run folder) into the run folder's path.

    Raises:
        RunStoreError: when ``run`` is not a valid id, escapes ``runs_dir`` or is no run folder.
    """
    candidate = Path(run)
    if os.sep in run or run in (".", ".."):
        path = candidate.resolve()
    else:
        if not RUN_ID_RE.match(run):
            raise RunStoreError(f"`run` must be a run id of letters, digits, '.', '_' or '-', got {run!r}")
        path = (Path(runs_dir) / run).resolve()
    if not (path / "manifest.json").is_file():
        raise RunStoreError(f"`run` must name an existing run folder with a manifest.json, got {run!r} ({path})")
    return path


class RunStore:
    """Reads and writes one run folder.

    Args:
        path: The run folder (must exist; use :meth:`create` for a new run).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_dir():
            raise RunStoreError(f"run folder `{self.path}` must exist, got a missing folder")
        self._rows: list[dict[str, Any]] | None = None
        self._materialised = 0
        self._journal_ready = False
        self._written: dict[str, str] = {}
        self._lock_fd: int | None = None

    # ---- creation and locking -------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: str | Path, run_id: str, config: Mapping[str, Any], manifest: Mapping[str, Any]) -> RunStore:
        """Creates ``runs_dir/run_id`` with its config and manifest (fails if it exists)."""
        if not RUN_ID_RE.match(run_id):
            raise RunStoreError(f"`run_id` must be letters, digits, '.', '_' or '-', got {run_id!r}")
        runs = Path(runs_dir)
        try:
            runs.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunStoreError(f"`runs_dir` must be a writable folder, got {str(runs)!r} ({e.strerror})") from e
        try:
            (runs / run_id).mkdir()
        except FileExistsError as e:
            raise RunStoreError(f"`run_id` must be new, got existing {run_id!r}") from e
        except OSError as e:
            raise RunStoreError(f"`runs_dir` must be a writable folder, got {str(runs)!r} ({e.strerror})") from e
        store = cls(runs / run_id)
        atomic_write_text(store.file("config.yaml"), yaml.safe_dump(dict(config), sort_keys=False))
        store.write_manifest(dict(manifest) | {"run_id": run_id, "status": "created", "created_at": _now()})
        return store

    def lock(self) -> None:
        """Takes the writer lock; refuses when another live process holds it."""
        fd = os.open(self.file(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(fd)
            raise RunStoreError(f"run `{self.run_id}` must have one writer, got another live process writing it") from e
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        """Materialises ``trials.parquet`` (best effort: the journal holds every row) and releases
        the writer lock."""
        if self._lock_fd is not None:
            try:
                if self._rows is not None:
                    self.materialise()
            except RunStoreError:
                pass  # e.g. the disk is full: readers and resume read the journal's tail

            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- paths ----------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The run's id (its folder name)."""
        return self.path.name

    def file(self, name: str) -> Path:
        """Path of a file inside the run folder."""
        return self.path / name

    @property
    def study_url(self) -> str:
        """SQLAlchemy URL of the run's Optuna storage."""
        return f"sqlite:///{self.file('study.db')}"

    # ---- config / manifest ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The resolved config the run was started with."""
        try:
            return yaml.safe_load(self.file("config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise RunStoreError(f"`config.yaml` of run `{self.run_id}` must be readable YAML ({e})") from e

    def manifest(self) -> dict[str, Any]:
        """The manifest (status, seeds, versions, budget spent)."""
        try:
            return json.loads(self.file("manifest.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RunStoreError(f"`manifest.json` of run `{self.run_id}` must be readable JSON ({e})") from e

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Replaces the manifest atomically."""
        atomic_write_text(self.file("manifest.json"), json.dumps(dict(manifest), indent=2, default=str))

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        """Merges ``changes`` into the manifest (with ``updated_at``) and returns it."""
        m = self.manifest() | changes | {"updated_at": _now()}
        if m.get("status") not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}, got {m.get('status')!r}")
        self.write_manifest(m)
        return m

    # ---- trials ---------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """Every recorded evaluation row (loaded from the run folder once, then kept in memory)."""
        if self._rows is None:
            table = self._table_rows()
            self._rows = table + self._journal_rows(len(table))
            self._materialised = len(table)
        return self._rows

    def trials(self) -> pd.DataFrame:
        """Every recorded row as a DataFrame, read afresh (empty when no evaluation finished yet).

        ``trials.parquet`` holds the rows up to the last materialisation; the rows journalled in
        ``trials.jsonl`` after it are appended. The table is read first: the journal, append-only,
        then holds at least its rows even while a writer materialises concurrently.
        """
        df = self._read_table()
        tail = self._journal_rows(len(df))
        if not tail:
            return df
        head = df.to_dict("records") if len(df) else []
        return pd.DataFrame(head + tail)

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Records one evaluation row: one line appended to ``trials.jsonl`` (the durable record).

        ``trials.parquet`` is rewritten only when the journalled tail outgrows it (amortised
        constant cost per row) and when the writer unlocks (:meth:`materialise`).

        Raises:
            RunStoreError: naming ``trials.jsonl`` when the line cannot be written (disk full, ...);
                the rows recorded before stay intact.
        """
        rows = self.rows()
        if not self._journal_ready:
            self._prepare_journal(rows)
        try:
            append_line(self.file(JOURNAL), json.dumps(dict(row), default=_json_default))
        except RunStoreError:
            self._journal_ready = False  # a partly written line is dropped before the next append
            raise
        rows.append(dict(row))  # only once it is on disk: a failed write leaves memory and disk agreeing
        if len(rows) - self._materialised >= max(MATERIALISE_MIN_TAIL, self._materialised):
            self.materialise()

    def materialise(self) -> None:
        """Rewrites ``trials.parquet`` atomically with every row (nothing to do when it has them all)."""
        rows = self.rows()
        if len(rows) > self._materialised or not self.file(TABLE).exists() and rows:
            self._write_table(rows)

    def update_rows(self, key: str, updates: Mapping[Any, Mapping[str, Any]]) -> int:
        """Sets columns on the rows whose ``key`` value is in ``updates`` (other rows get NaN in new
        columns) and rewrites ``trials.parquet`` atomically; returns the number of rows updated."""
        rows = self.rows()
        n = 0
        for row in rows:
            extra = updates.get(row.get(key))
            if extra is not None:
                row.update(extra)
                n += 1
        if n:
            self._write_table(rows)
        return n

    def _write_table(self, rows: list[dict[str, Any]]) -> None:
        buf = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buf, index=False)
        atomic_write_bytes(self.file(TABLE), buf.getvalue())
        self._materialised = len(rows)

    def _read_table(self) -> pd.DataFrame:
        path = self.file(TABLE)
        if not path.exists():
            return pd.DataFrame()
        try:
            return pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise RunStoreError(f"`{TABLE}` of run `{self.run_id}` must be a valid parquet file ({e})") from e

    def _table_rows(self) -> list[dict[str, Any]]:
        df = self._read_table()
        return df.to_dict("records") if len(df) else []

    def _journal_rows(self, skip: int) -> list[dict[str, Any]]:
        return read_rows(self.file(JOURNAL), skip, self.run_id)

    def _prepare_journal(self, rows: list[dict[str, Any]]) -> None:
        prepare(self.file(JOURNAL), rows, _json_default)
        self._journal_ready = True

    # ---- json side files ------------------------------------------------------------------
    def write_json(self, name: str, data: Any, indent: int | None = 2) -> None:
        """Writes ``data`` as JSON to ``name`` atomically (skipped when this store last wrote the
        same text there: a strategy without state checkpoints ``{}`` after every evaluation).

        ``indent=None`` writes one line with the C encoder: the predictor strategy's state, written
        after every evaluation, holds every evaluated architecture, and the indenting encoder (pure
        Python) spent 36 ms per evaluation on it at 1,000 evaluations.
        """
        text = json.dumps(data, indent=indent, default=_json_default)
        if self._written.get(name) == text and self.file(name).exists():
            return
        atomic_write_text(self.file(name), text)
        self._written[name] = text

    def read_json(self, name: str, default: Any = None) -> Any:
        """Reads JSON file ``name`` (``default`` when it does not exist)."""
        path = self.file(name)
        if not path.exists():
            return default
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RunStoreError(f"`{name}` of run `{self.run_id}` must be readable JSON ({e})") from e

    def event(self, kind: str, **data: Any) -> None:
        """Appends one line to ``events.jsonl``."""
        line = json.dumps({"t": time.time(), "kind": kind} | data, default=_json_default)
        with open(self.file("events.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def events(self) -> list[dict[str, Any]]:
        """All events (a torn last line, from a crash mid-write, is skipped)."""
        path = self.file("events.jsonl")
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
