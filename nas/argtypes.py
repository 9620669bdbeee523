"""Argparse value types shared by every ``nas`` sub-command: errors name the flag, the rule and
the value, so the CLI prints one line and exits 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_arg"]


def int_arg(flag: str, minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` parsing an integer within ``[minimum, maximum]`` (bounds optional).

    Args:
        flag: The flag named in the error (e.g. ``--trial``).
        minimum: Smallest accepted value, or ``None``.
        maximum: Largest accepted value, or ``None``.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"`{flag}` must be an integer, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"`{flag}` must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"`{flag}` must be <= {maximum}, got {value}")
        return value

    return parse
