"""Ensemble supernet training: the sandwich rule over ensembles, with NEAS's loss and shrinking.

Each step trains the largest ensemble (K = M, nothing shared, every choice at its maximum) on the
labels, then the smallest and ``num_random`` random ensembles on the largest's averaged soft
predictions (in-place distillation), one optimiser step on the summed gradients. The smallest and
the random ensembles are drawn with **all M members** (their choices and split from the space):
a member's loss is its own, so an ensemble of K < M members is a sub-ensemble of what was trained,
while sampling K too would train copy 0 on every step and copy M-1 on a fraction of them (a first
benchmark at 16 epochs scored 2-member ensembles 52-65% through the supernet against 92-95%
stand-alone, the weak second copy pulling the average down). An ensemble's loss is the **sum of
its members' losses**; the trunk's gradient is divided by K by the backward
hook of :meth:`EnsembleSupernet.trunk`, so each member learns from its own full gradient and the
trunk from the members' mean. After the scheduled epochs a :class:`~nas.sharing.shrink.Shrinker`
narrows the space; its state rides in the checkpoint, so a resumed run has the same space.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.checkpoint import load_checkpoint
from nas.data import Task, batches
from nas.sharing.ensemble import EnsembleSupernet
from nas.sharing.shrink import Shrinker
from nas.space import Arch
from nas.train import EpochStats, TrainConfig, Trainer

__all__ = ["EnsembleTrainer"]


class EnsembleTrainer(Trainer):
    """Trains an :class:`EnsembleSupernet` (see the module docstring).

    Args:
        supernet: The ensemble supernet (trained in place).
        task: The task whose ``train`` split is used.
        config: The recipe (epochs, batch size, learning rate, random ensembles per step, ...).
        seed: Seed of the trainer's generators.
        shrinker: Diversity-guided shrinking (``None``: the space is never shrunk).
        on_shrink: Called with each shrink event after it ran (persist it, log it).
    """

    def __init__(self, supernet: EnsembleSupernet, task: Task, config: TrainConfig, seed: int,
                 shrinker: Shrinker | None = None, on_shrink: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(supernet, task, config, seed)
        self.ens: EnsembleSupernet = supernet
        self.shrinker, self.on_shrink = shrinker, on_shrink

    def ensemble_loss(self, arch: Arch, x: torch.Tensor, y: torch.Tensor,
                      teacher: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of the members' losses for ``arch`` (labels when ``teacher`` is ``None``, else
        distillation), and the ensemble's averaged logits (detached)."""
        self.ens.set_arch(arch)
        logits = self.ens.member_logits(x)
        if teacher is None:
            loss = sum(self._label_loss(out, y) for out in logits)
        else:
            loss = sum(self._sub_loss(out, y, teacher) for out in logits)
        return loss, torch.stack(logits).mean(0).detach()  # type: ignore[return-value]

    def _with_all_members(self, values: dict[str, Any]) -> Arch:
        space = self.net.space
        values["members"] = max(space.choice("members").options)  # type: ignore[type-var]
        return space.make(values)

    def _sample(self) -> Arch:
        """A random ensemble with all M members (choices and split uniform per dimension)."""
        space = self.net.space
        return self._with_all_members({c.label: c.options[int(self.rng.integers(len(c.options)))]
                                       for c in space.choices})

    def _smallest(self) -> Arch:
        """Every member at its smallest choices, sharing the most (``split`` = its first option)."""
        return self._with_all_members(dict(self.net.space.min_values()))

    def _run_epoch(self) -> EpochStats:
        start = time.perf_counter()
        self.net.train()
        cfg = self.config
        sums, n = np.zeros(2), 0
        for x, y in batches(self.task.train, cfg.batch_size, self.torch_gen):
            for group in self.opt.param_groups:
                group["lr"] = self.lr_at(self.step)
            self.opt.zero_grad(set_to_none=True)
            biggest = self.net.max_arch()
            loss_max, teacher = self.ensemble_loss(biggest, x, y, None)
            loss_max.backward()
            subs = [self._smallest()] + [self._sample() for _ in range(cfg.num_random)]
            loss_sub = 0.0
            for arch in subs:
                loss, _ = self.ensemble_loss(arch, x, y, teacher)
                loss.backward()
                loss_sub += loss.item() / len(subs) / int(arch["members"])
            self.opt.step()
            self.step += 1
            sums += (loss_max.item() / int(biggest["members"]), loss_sub)
            n += 1
        means = sums / max(1, n)
        stats = EpochStats(self.epoch + 1, float(means[0]), float(means[1]), time.perf_counter() - start)
        self._maybe_shrink(self.epoch + 1)
        return stats

    def _maybe_shrink(self, epoch: int) -> None:
        if self.shrinker is None or not self.shrinker.due(epoch, self.config.epochs):
            return
        event = self.shrinker.shrink(self.ens, self.task, epoch)
        if self.on_shrink is not None:
            self.on_shrink(event)

    def state_meta(self) -> dict[str, Any]:
        """The base trainer state plus the shrinker's (options left, history)."""
        meta = super().state_meta()
        if self.shrinker is not None:
            meta["shrink"] = self.shrinker.state_dict()
        return meta

    def load(self, path: Path) -> None:
        """Restores weights, optimiser, generators and the shrunk space from a checkpoint."""
        super().load(path)
        _, meta = load_checkpoint(path)
        if self.shrinker is not None and "shrink" in meta:
            self.shrinker.load_state_dict(meta["shrink"])
            self.ens.narrow(self.shrinker.options)
