"""Where and how layers share parameters: the SharingPlan and the sharing modes (DESIGN §4).

Modes register into :data:`SHARING` when their module is imported; :func:`load_modes` imports the
built-in ones (the runner and CLI call it), so ``nas.sharing`` itself stays light.
"""

from __future__ import annotations

import importlib

from nas.sharing.config import SharingConfig
from nas.sharing.modes import SHARING, SharingContext, SharingMode, plan_from_supernet
from nas.sharing.plan import PLAN_FILE, SOURCES, SharingPlan

__all__ = ["SHARING", "SharingConfig", "SharingContext", "SharingMode", "SharingPlan", "PLAN_FILE", "SOURCES",
           "plan_from_supernet", "load_modes", "BUILTIN_MODES"]

# Module of each built-in mode; a module that is not there yet is skipped.
BUILTIN_MODES: tuple[str, ...] = (
    "nas.sharing.npas_mode",
    "nas.sharing.ensemble_mode",
    "nas.sharing.branching_mode",
    "nas.sharing.gm_mode",
)


def load_modes() -> None:
    """Imports the built-in sharing modes so that they register themselves (idempotent)."""
    for name in BUILTIN_MODES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
