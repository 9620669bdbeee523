"""Diversity-guided space shrinking during ensemble supernet training (NEAS).

**Score.** At a shrink epoch the shrinker samples ``samples`` ensembles of at least two members
from the current space (its own seeded generator), exports each, recalibrates its BatchNorm on
``calib_batches`` training batches and scores it on the first ``eval_size`` validation samples::

    score(e) = accuracy(e) + diversity_weight * disagreement(e)

where ``accuracy`` is the ensemble's (averaged-logit) top-1 accuracy in [0, 1] and
``disagreement`` the mean over member pairs of the share of samples on which the two members'
predictions differ (in [0, 1]). An option of a base dimension (``s2.width``) scores the mean of
``score(e)`` over the sampled ensembles in which the trunk or some member uses it.

**Schedule.** Shrinking runs at the end of the epochs ``round(f * epochs)`` for ``f`` in ``at``
(default: once, half way; at least epoch 1). Each event removes, in every base dimension, the
lowest-scoring *interior* option: the smallest and largest options are never removed, so the
cost range the search covers survives (accuracy-driven scores would otherwise always drop the
cheap options). A dimension left with two options is not shrunk further; options no sampled
ensemble used are kept (no evidence against them).

The options left are the shrinker's state (``state_dict``): the trainer checkpoints it, and the
ensemble mode stores it with the run so that the search and ``nas resume`` use the shrunk space.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nas.data import Task
from nas.errors import invalid
from nas.space import Arch, SearchSpace, Value
from nas.sharing.ensemble_space import base_label
from nas.supernet.calibrate import recalibrate_bn

if TYPE_CHECKING:
    from nas.sharing.ensemble import EnsembleSupernet

__all__ = ["ShrinkConfig", "Shrinker", "ensemble_scores"]


@dataclass(frozen=True)
class ShrinkConfig:
    """Settings of diversity-guided shrinking (see the module docstring).

    Attributes:
        at: Fractions of the training epochs after which a shrink event runs.
        samples: Ensembles sampled per event.
        diversity_weight: Weight of the members' disagreement in the score.
        eval_size: Validation samples scored per ensemble.
        calib_batches: Training batches (of 128) used to recalibrate BatchNorm.
    """

    at: tuple[float, ...] = (0.5,)
    samples: int = 24
    diversity_weight: float = 0.5
    eval_size: int = 500
    calib_batches: int = 2

    def __post_init__(self) -> None:
        if not self.at or not all(0 < f <= 1 for f in self.at):
            raise invalid("shrink.at", "be fractions in (0, 1]", self.at)
        for name in ("samples", "eval_size", "calib_batches"):
            if getattr(self, name) < 1:
                raise invalid(f"shrink.{name}", "be at least 1", getattr(self, name))
        if self.diversity_weight < 0:
            raise invalid("shrink.diversity_weight", "be >= 0", self.diversity_weight)

    def epochs_for(self, epochs: int) -> list[int]:
        """The (1-based) epochs after which shrinking runs, for a run of ``epochs`` epochs."""
        return sorted({min(epochs, max(1, round(f * epochs))) for f in self.at}) if epochs > 0 else []


@torch.no_grad()
def ensemble_scores(net: EnsembleSupernet, arch: Arch, task: Task, calib: list[torch.Tensor],
                    eval_size: int) -> tuple[float, float]:
    """``(accuracy, disagreement)`` of one ensemble, both in [0, 1] (BN recalibrated on ``calib``)."""
    static = net.export(arch)
    recalibrate_bn(static, calib)
    x, y = task.val.x[:eval_size], task.val.y[:eval_size]
    h = static.trunk(x)
    logits = [head(h) for head in static.heads]
    acc = float((torch.stack(logits).mean(0).argmax(1) == y).float().mean())
    preds = [lg.argmax(1) for lg in logits]
    pairs = [float((a != b).float().mean()) for a, b in itertools.combinations(preds, 2)]
    return acc, float(np.mean(pairs)) if pairs else 0.0


class Shrinker:
    """Narrows the base dimensions' options of an ensemble supernet during training.

    Args:
        base: The full base space (its labels are the dimensions shrunk).
        config: Score and schedule.
        seed: Seed of the generator that samples ensembles and calibration batches.
    """

    def __init__(self, base: SearchSpace, config: ShrinkConfig, seed: int) -> None:
        self.base, self.config = base, config
        self.rng = np.random.default_rng(seed)
        self.options: dict[str, tuple[Value, ...]] = {c.label: tuple(c.options) for c in base.choices}
        self.history: list[dict[str, Any]] = []

    def due(self, epoch: int, epochs: int) -> bool:
        """Whether a shrink event runs after (1-based) ``epoch`` and has not run yet."""
        return epoch in self.config.epochs_for(epochs) and all(h["epoch"] != epoch for h in self.history)

    def _sample(self, space: SearchSpace) -> Arch:
        values = {c.label: c.options[int(self.rng.integers(len(c.options)))] for c in space.choices}
        ks = [k for k in space.choice("members").options if int(k) >= 2] or list(space.choice("members").options)
        values["members"] = ks[int(self.rng.integers(len(ks)))]
        return space.make(values)

    def _calibration(self, task: Task) -> list[torch.Tensor]:
        n = min(len(task.train), 128 * self.config.calib_batches)
        idx = torch.from_numpy(self.rng.permutation(len(task.train))[:n])
        return list(task.train.x[idx].split(128))

    def scores(self, net: EnsembleSupernet, task: Task) -> dict[str, dict[Value, float]]:
        """Mean ensemble score of every used option of every base dimension."""
        was_training = net.training
        net.eval()
        pooled: dict[str, dict[Value, list[float]]] = {label: {} for label in self.options}
        try:
            calib = self._calibration(task)
            for _ in range(self.config.samples):
                arch = self._sample(net.space)
                acc, dis = ensemble_scores(net, arch, task, calib, self.config.eval_size)
                score = acc + self.config.diversity_weight * dis
                used = {(base_label(k), v) for k, v in arch.items if k not in ("members", "split")}
                for label, v in used:
                    pooled[label].setdefault(v, []).append(score)
        finally:
            net.train(was_training)
        return {label: {v: float(np.mean(s)) for v, s in by.items()} for label, by in pooled.items()}

    def shrink(self, net: EnsembleSupernet, task: Task, epoch: int) -> dict[str, Any]:
        """Scores options, removes the worst interior option of each dimension, narrows ``net``.

        Returns:
            The event recorded in :attr:`history` (epoch, removed options, scores).
        """
        scores = self.scores(net, task)
        removed: dict[str, Value] = {}
        for label, opts in self.options.items():
            interior = [o for o in opts[1:-1] if o in scores[label]]
            if len(opts) <= 2 or not interior:
                continue
            worst = min(interior, key=lambda o: scores[label][o])
            removed[label] = worst
            self.options[label] = tuple(o for o in opts if o != worst)
        net.narrow(self.options)
        event = {"epoch": int(epoch), "removed": removed,
                 "scores": {label: {str(o): round(s, 5) for o, s in by.items()} for label, by in scores.items()}}
        self.history.append(event)
        return event

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: options left, history, generator state."""
        return {"options": {k: list(v) for k, v in self.options.items()}, "history": self.history,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` output."""
        self.options = {k: tuple(v) for k, v in state["options"].items()}
        self.history = list(state.get("history", []))
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]
