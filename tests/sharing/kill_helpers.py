"""A training kill for the sharing modes' end-to-end tests: raised from the runner's epoch hook
after the first epoch, so a test can check that ``nas resume`` continues where training stopped."""

from __future__ import annotations

from typing import Any

__all__ = ["Killed", "kill_after_first_epoch"]


class Killed(Exception):
    """Stands in for a process killed during supernet training."""


def kill_after_first_epoch(stats: Any) -> None:
    """``Hooks.on_epoch`` callback that raises :class:`Killed` once epoch 1 is done."""
    if stats.epoch == 1:
        raise Killed
