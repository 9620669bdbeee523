"""The dashboard's export button: exports one trial of a run through ``nas.export``.

The dashboard never builds models itself; it hands the run folder and the trial number to the
export API (``nas.export.export_run``) and reports where the folder went. Until that API exists
in the installed ``nas`` package, :func:`export_point` raises :class:`ExportUnavailable` with a
message that says so, and the button shows it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from nas.errors import NASError, UserInputError

__all__ = ["ExportUnavailable", "export_point", "export_available", "export_dir_for"]


class ExportUnavailable(NASError):
    """The export API (``nas.export.export_run``) is not available in this installation."""


def _export_api() -> Any:
    try:
        module = importlib.import_module("nas.export")
        return module.export_run
    except (ImportError, AttributeError) as e:
        raise ExportUnavailable(
            f"exporting needs `nas.export.export_run`, which this installation lacks ({type(e).__name__}: {e})"
        ) from e


def export_available() -> bool:
    """Whether the export API can be imported."""
    try:
        _export_api()
    except ExportUnavailable:
        return False
    return True


def export_dir_for(run_path: Path, trial: int) -> Path:
    """Where the dashboard exports trial ``trial`` of a run: ``<run>/exports/trial-<N>``."""
    return Path(run_path) / "exports" / f"trial-{int(trial)}"


def export_point(run_path: Path, trial: int, formats: tuple[str, ...] = ("pytorch",)) -> Path:
    """Exports trial ``trial`` of the run in ``run_path``; returns the export folder.

    A trial exported before is not exported again: its folder is returned.

    Args:
        run_path: A run folder already validated by :func:`dashboards.data.safe_run_path`.
        trial: The trial number (an integer from the browser; anything else is refused).
        formats: Export formats passed on to the export API.

    Raises:
        UserInputError: when ``trial`` is not a non-negative integer.
        ExportUnavailable: when the export API is missing.
    """
    if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
        raise UserInputError(f"`trial` must be a non-negative integer, got {trial!r}")
    export_run = _export_api()
    out = export_dir_for(run_path, trial)
    if (out / "arch.json").is_file():  # exported before: the button shows the existing folder
        return out
    result = export_run(Path(run_path).name, Path(run_path).parent, trial=trial, out=out, formats=formats)
    return Path(getattr(result, "path", out))
