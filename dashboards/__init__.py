"""Dashboards: the Dash app of ``nas dashboard`` and the one-file HTML report of ``nas report``.

Read-only over run folders (``nas.store``); figures follow convention 9 (a pure ``_..._info``
step returning a NamedTuple, then a thin plotly step). The public API is imported on first use
so that ``nas`` commands that never draw do not import Dash and plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["create_app", "serve", "background_server", "write_report", "render_report", "RunCache", "RunView",
           "safe_run_path", "export_point"]

_LAZY = {
    "create_app": "dashboards.app",
    "serve": "dashboards.app",
    "background_server": "dashboards.app",
    "write_report": "dashboards.report",
    "render_report": "dashboards.report",
    "RunCache": "dashboards.data",
    "RunView": "dashboards.data",
    "safe_run_path": "dashboards.data",
    "export_point": "dashboards.exporting",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dashboards' has no attribute {name!r}")
