"""The catalogue of registered spaces. Spaces register here; the core reads.

``search_spaces/`` fills :data:`SPACES` (and :data:`nas.data.TASKS`) when imported; only
``nas.cli`` (and tests) import ``search_spaces``, so the core never depends on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.registry import Registry
from nas.space import Arch, SearchSpace

if TYPE_CHECKING:
    from nas.data import Task
    from nas.supernet.base import Supernet

__all__ = ["SpaceSpec", "SPACES"]


@dataclass(frozen=True)
class SpaceSpec:
    """A registered space.

    Attributes:
        name: Registered name (``--space``).
        build_space: Returns the :class:`SearchSpace`.
        tasks: Names of the tasks this space runs on; the first is the default.
        build_supernet: Builds the weight-entangled supernet for a task (trainable spaces).
        description: One line for ``nas --help`` and the README.
        short: Formats an architecture's choices compactly for tables.
        metrics: Metric names an evaluation of this space returns (usable as objectives and
            constraints).
        build_evaluator: For table-backed spaces: ``(space, task, device) -> evaluator`` with
            ``evaluate(arch, seed) -> metrics`` (no supernet, no training).
        devices: Device names valid for ``--device`` with this space.
        features: Structural features of an architecture for predictors (depth, widths, FLOPs-like
            sums, live paths of a cell), appended to the one-hot encoding by :meth:`encode`.
        default_epochs: Supernet training epochs used by ``nas search --space NAME`` when neither
            ``--epochs`` nor ``--config`` is given (``None``: the config's ``train.epochs``).
    """

    name: str
    build_space: Callable[[], SearchSpace]
    tasks: tuple[str, ...]
    build_supernet: Callable[[SearchSpace, "Task"], "Supernet"] | None = None
    description: str = ""
    short: Callable[[Arch], str] | None = None
    metrics: tuple[str, ...] = ("accuracy", "test_accuracy", "latency_ms", "params", "macs")
    build_evaluator: Callable[[SearchSpace, str, str], Any] | None = None
    devices: tuple[str, ...] = ("cpu",)
    features: Callable[[Arch], Any] | None = None
    default_epochs: int | None = None

    def encode(self, space: SearchSpace, arch: Arch) -> Any:
        """Predictor features of ``arch``: the one-hot encoding plus the space's structural features."""
        import numpy as np

        onehot = space.encode(arch)
        if self.features is None:
            return onehot
        return np.concatenate([onehot, np.asarray(self.features(arch), dtype=np.float32)])

    @property
    def trainable(self) -> bool:
        """Whether the space trains a supernet (else it is table-backed: metrics are looked up)."""
        return self.build_supernet is not None

    def describe(self, arch: Arch) -> str:
        """The architecture's choices in short form (the space's formatter, or values joined)."""
        if self.short is not None:
            return self.short(arch)
        return " ".join(str(v) for _, v in arch.items)

    @property
    def default_task(self) -> str:
        """The task used when none is given."""
        return self.tasks[0]


SPACES: Registry[SpaceSpec] = Registry("space")
