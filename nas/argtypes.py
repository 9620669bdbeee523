"""Argparse value types shared by every ``nas`` sub-command: errors name the flag, the rule and
the value, so the CLI prints one line and exits 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_arg", "float_arg"]


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


def float_arg(flag: str, positive: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` parsing a finite number (``positive``: strictly above 0).

    Args:
        flag: The flag named in the error (e.g. ``--param-budget``).
        positive: Whether the value must be above 0.
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"`{flag}` must be a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"`{flag}` must be a finite number, got {text!r}")
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"`{flag}` must be > 0, got {value:g}")
        return value

    return parse
