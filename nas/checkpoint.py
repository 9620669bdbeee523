"""Atomic file writes and safetensors checkpoints (tensors plus JSON metadata).

Everything a run persists goes through :func:`atomic_write_bytes` / :func:`atomic_write_text`:
write to a temporary file in the same folder, then ``os.replace``, so a reader never sees a
half-written file and a killed process leaves the previous version intact. (No ``fsync``: it
guards against power loss, not process death, and costs milliseconds per write.)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from nas.errors import RunStoreError

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_checkpoint", "load_checkpoint"]

_META_KEY = "sharenas"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (temp file in the same folder, then rename).

    Raises:
        RunStoreError: when the folder is not writable or the disk is full; ``path`` keeps its
            previous content and no temporary file is left behind.
    """
    path = Path(path)
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise RunStoreError(f"`{path}` must be writable, got {e.strerror or e} (its previous version is intact)") from e
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: str | Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None = None) -> None:
    """Saves tensors (contiguous CPU copies) and JSON-serialisable metadata as safetensors."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    blob = save(flat, metadata={_META_KEY: json.dumps(dict(meta or {}))})
    atomic_write_bytes(path, blob)


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Loads a checkpoint written by :func:`save_checkpoint`.

    Raises:
        RunStoreError: naming the file when it is missing or corrupt.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
        tensors = load(blob)
        header_len = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + header_len])
        meta = json.loads(header.get("__metadata__", {}).get(_META_KEY, "{}"))
    except FileNotFoundError as e:
        raise RunStoreError(f"checkpoint `{path}` must exist, got a missing file") from e
    except (SafetensorError, ValueError, json.JSONDecodeError, OSError) as e:
        raise RunStoreError(f"checkpoint `{path}` must be a valid safetensors file, got a corrupt one ({e})") from e
    return tensors, meta
