"""Writing a benchmark's result file: atomically, so that a killed benchmark leaves the previous
result intact rather than half a JSON document."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_result"]


def write_result(data: dict[str, Any], out: str | Path) -> None:
    """Writes ``data`` as indented JSON to ``out`` through a temporary file and a rename.

    NumPy scalars and other number-like values are written as floats.
    """
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, default=float)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
