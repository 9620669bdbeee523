"""Writing an export folder all or nothing: a hidden staging folder beside it, then a rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nas.errors import UserInputError

__all__ = ["check_target", "staged"]


def check_target(out: str | Path, force: bool) -> Path:
    """Validates the output folder before any work.

    Raises:
        UserInputError: when it exists and ``force`` is not set, or it is not a folder.
    """
    path = Path(out).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise UserInputError(f"`-o` must name a folder, got an existing file {str(path)!r}")
    if path.exists() and not force:
        raise UserInputError(f"`-o` must name a folder that does not exist yet (or pass --force), got existing {str(path)!r}")
    return path


def _publishable(folder: Path) -> None:
    """Gives the staged folder and its files the usual permissions (mkdtemp made them private)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)


@contextlib.contextmanager
def staged(out: Path, force: bool) -> Iterator[Path]:
    """Yields a staging folder; on success it replaces ``out`` in one rename, on error it vanishes.

    With ``force`` an existing ``out`` is moved aside first and deleted only after the new
    folder is in place, so an interrupted export never leaves a half-written ``out``.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"`-o` must be in a writable folder, got {str(out.parent)!r} ({e.strerror})") from e
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        yield tmp
        _publishable(tmp)
        old = None
        if out.exists():
            check_target(out, force)
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "previous")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
