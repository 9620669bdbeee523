"""The trial journal ``trials.jsonl``: one JSON row per line, appended, never rewritten in place.

It is the durable record of a run's evaluations (:class:`nas.store.RunStore` materialises
``trials.parquet`` from it). A row is recorded once its whole line is written; a process killed
mid-write leaves a torn last line, which readers skip and the next writer drops before appending.
No fsync, like every other run file (:mod:`nas.checkpoint`): a killed process loses nothing it wrote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.checkpoint import atomic_write_text
from nas.errors import RunStoreError

__all__ = ["append_line", "read_rows", "prepare"]


def append_line(path: Path, line: str) -> None:
    """Appends ``line`` and a newline to ``path`` in one ``write``.

    Raises:
        RunStoreError: naming the file when it cannot be written (a partial line may remain:
            :func:`prepare` drops it).
    """
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise RunStoreError(f"`{path}` must be writable, got {e.strerror or e} (the rows before are intact)") from e
    if written != len(data):
        raise RunStoreError(f"`{path}` must take the whole row, got {written} of {len(data)} bytes (disk full?)")


def read_rows(path: Path, skip: int, run_id: str) -> list[dict[str, Any]]:
    """The rows after the first ``skip`` lines (a torn last line is not a row).

    Raises:
        RunStoreError: naming the file and the line when a complete line is not JSON.
    """
    if not path.exists():
        return []
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as e:
        raise RunStoreError(f"`{path.name}` of run `{run_id}` must be readable ({e.strerror})") from e
    complete = lines[:-1]  # the part after the last newline is empty or torn
    out = []
    for i in range(skip, len(complete)):
        try:
            out.append(json.loads(complete[i]))
        except json.JSONDecodeError as e:
            raise RunStoreError(f"`{path.name}` of run `{run_id}` must hold one JSON row per line, "
                                f"got a corrupt line {i + 1} ({e})") from e
    return out


def prepare(path: Path, rows: list[dict[str, Any]], default: Callable[[Any], Any]) -> None:
    """Readies the journal for appends: drops a torn last line, and rewrites it (atomically) with
    ``rows`` when it holds fewer lines (a run whose ``trials.parquet`` predates the journal)."""
    data = path.read_bytes() if path.exists() else b""
    if data.count(b"\n") < len(rows):
        atomic_write_text(path, "".join(json.dumps(r, default=default) + "\n" for r in rows))
    elif data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
