"""The run folder ``runs/<run-id>/``: everything needed to resume, browse and export a run.

Files: ``config.yaml`` (resolved), ``study.db`` (Optuna RDB storage), ``trials.parquet`` (one row
per finished evaluation), ``front.json``, ``supernet.safetensors``, ``events.jsonl``,
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

__all__ = ["RunStore", "RUN_ID_RE", "resolve_run"]

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
        """Releases the writer lock."""
        if self._lock_fd is not None:
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
        """Every recorded evaluation row (loaded from ``trials.parquet`` once)."""
        if self._rows is None:
            df = self.trials()
            self._rows = df.to_dict("records") if len(df) else []
        return self._rows

    def trials(self) -> pd.DataFrame:
        """``trials.parquet`` as a DataFrame (empty when no evaluation finished yet)."""
        path = self.file("trials.parquet")
        if not path.exists():
            return pd.DataFrame()
        try:
            return pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise RunStoreError(f"`trials.parquet` of run `{self.run_id}` must be a valid parquet file ({e})") from e

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Appends one evaluation row and rewrites ``trials.parquet`` atomically."""
        rows = [*self.rows(), dict(row)]
        buf = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buf, index=False)
        atomic_write_bytes(self.file("trials.parquet"), buf.getvalue())
        self._rows = rows  # only once it is on disk: a failed write leaves memory and disk agreeing

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
            buf = io.BytesIO()
            pd.DataFrame(rows).to_parquet(buf, index=False)
            atomic_write_bytes(self.file("trials.parquet"), buf.getvalue())
        return n

    # ---- json side files ------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        """Writes ``data`` as JSON to ``name`` atomically."""
        atomic_write_text(self.file(name), json.dumps(data, indent=2, default=_json_default))

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
