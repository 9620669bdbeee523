"""Errors raised by ShareNAS.

Every error meant for a user names the parameter, the rule and the value received. The CLI turns
:class:`UserInputError` into one line on stderr and exit code 2; anything else is a bug or an
environment failure and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NASError",
    "UserInputError",
    "ConfigError",
    "RunStoreError",
    "EvaluationError",
    "invalid",
]


class NASError(Exception):
    """Base class of every error ShareNAS raises on purpose."""


class UserInputError(NASError):
    """Bad input from the user: the CLI prints the message and exits with code 2."""

    exit_code = 2


class ConfigError(UserInputError):
    """A configuration value broke a rule (unknown key, wrong type, out of range)."""


class RunStoreError(UserInputError):
    """A run folder is missing, corrupt or not writable."""


class EvaluationError(NASError):
    """An evaluation failed for a reason that retrying will not fix."""


def invalid(param: str, rule: str, value: Any) -> ConfigError:
    """Builds the standard one-line message: ``param must <rule>, got <value>``.

    Args:
        param: Name of the parameter or config key, e.g. ``budget``.
        rule: What the value must satisfy, e.g. ``be positive``.
        value: The value received.

    Returns:
        A :class:`ConfigError` ready to raise.
    """
    return ConfigError(f"`{param}` must {rule}, got {value!r}")
