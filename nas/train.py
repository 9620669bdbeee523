"""Supernet training: the sandwich rule with in-place distillation, resumable at epoch boundaries.

Each step trains the largest subnet on the labels, then the smallest and ``num_random`` random
subnets on the largest's soft predictions (in-place knowledge distillation, BigNAS/OFA), and
takes one optimiser step on the summed gradients. The learning rate follows a warm-up then
cosine schedule computed from the global step, so a resumed run continues the same schedule.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nas.checkpoint import load_checkpoint, save_checkpoint
from nas.data import Task, batches
from nas.errors import invalid
from nas.multitask import multitask_distill, multitask_loss
from nas.space import Arch
from nas.supernet.base import Supernet
from nas.supernet.progressive import PHASES, dimension_kind, phase_of, progressive_sample

__all__ = ["TrainConfig", "EpochStats", "Trainer"]


@dataclass(frozen=True)
class TrainConfig:
    """Supernet training recipe.

    Attributes:
        epochs: Training epochs (0 skips training).
        batch_size: Mini-batch size.
        lr: Peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_epochs: Linear warm-up length before the cosine decay.
        num_random: Random subnets per step besides the largest and the smallest.
        distill: In-place distillation from the largest subnet (else labels for all).
        kd_temperature: Softmax temperature of the distillation targets.
        threads: torch intra-op threads while training (0 keeps torch's default).
        progressive: Progressive shrinking: the random subnets vary only kernels in the first
            third of the epochs, kernels and depths in the second, everything in the last
            (:mod:`nas.supernet.progressive`).
    """

    epochs: int = 40
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    num_random: int = 2
    distill: bool = True
    kd_temperature: float = 1.0
    threads: int = 0
    progressive: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "warmup_epochs", "num_random", "threads"):
            if getattr(self, name) < 0:
                raise invalid(f"train.{name}", "be >= 0", getattr(self, name))
        for name in ("batch_size",):
            if getattr(self, name) <= 0:
                raise invalid(f"train.{name}", "be positive", getattr(self, name))
        for name in ("lr", "kd_temperature"):
            if not getattr(self, name) > 0:
                raise invalid(f"train.{name}", "be positive", getattr(self, name))
        if self.weight_decay < 0:
            raise invalid("train.weight_decay", "be >= 0", self.weight_decay)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch did: mean losses and wall time."""

    epoch: int
    loss_max: float
    loss_sub: float
    seconds: float


class Trainer:
    """Trains a :class:`Supernet` with the sandwich rule; owns its optimiser and generators.

    Args:
        supernet: The supernet to train (in place).
        task: The task whose ``train`` split is used.
        config: The recipe.
        seed: Seed of the trainer's generators (batch order and sampled subnets).
    """

    def __init__(self, supernet: Supernet, task: Task, config: TrainConfig, seed: int) -> None:
        self.net, self.task, self.config = supernet, task, config
        self.rng = np.random.default_rng(seed)
        self.torch_gen = torch.Generator().manual_seed(seed)
        self.opt = torch.optim.AdamW(supernet.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.epoch = 0
        self.step = 0
        self.steps_per_epoch = math.ceil(len(task.train) / config.batch_size)

    def lr_at(self, step: int) -> float:
        """Learning rate at a global step: linear warm-up, then cosine decay to zero."""
        total = max(1, self.config.epochs * self.steps_per_epoch)
        warm = self.config.warmup_epochs * self.steps_per_epoch
        if step < warm:
            return self.config.lr * (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return self.config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def fit(self, checkpoint: Path | None = None, on_epoch: Callable[[EpochStats], None] | None = None) -> list[EpochStats]:
        """Trains until ``config.epochs``, checkpointing after every epoch.

        Args:
            checkpoint: File to write the supernet + trainer state to (safetensors) after each
                epoch; when it exists with trainer state, training resumes from it.
            on_epoch: Called after each epoch (progress display, events).

        Returns:
            The statistics of the epochs run by this call.
        """
        if checkpoint is not None and checkpoint.exists():
            self.load(checkpoint)
        threads_before = torch.get_num_threads()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        history = []
        try:
            while self.epoch < self.config.epochs:
                stats = self._run_epoch()
                self.epoch += 1
                if checkpoint is not None:
                    self.save(checkpoint)
                history.append(stats)
                if on_epoch is not None:
                    on_epoch(stats)
        finally:
            torch.set_num_threads(threads_before)
        self.net.set_arch(self.net.max_arch())
        return history

    def _run_epoch(self) -> EpochStats:
        start = time.perf_counter()
        self.net.train()
        space, cfg = self.net.space, self.config
        sums = np.zeros(2)
        n = 0
        for x, y in batches(self.task.train, cfg.batch_size, self.torch_gen):
            for group in self.opt.param_groups:
                group["lr"] = self.lr_at(self.step)
            self.opt.zero_grad(set_to_none=True)
            self.net.set_arch(self.net.max_arch())
            logits = self.net(x)
            loss_max = self._label_loss(logits, y)
            loss_max.backward()
            teacher = logits.detach()
            subs = [self._smallest()] + [self._sample() for _ in range(cfg.num_random)]
            loss_sub = 0.0
            for arch in subs:
                self.net.set_arch(arch)
                out = self.net(x)
                loss = self._sub_loss(out, y, teacher)
                loss.backward()
                loss_sub += loss.item() / len(subs)
            self.opt.step()
            self.step += 1
            sums += (loss_max.item(), loss_sub)
            n += 1
        means = sums / max(1, n)
        return EpochStats(self.epoch + 1, float(means[0]), float(means[1]), time.perf_counter() - start)

    def _sample(self) -> Arch:
        if not self.config.progressive:
            return self.net.space.sample(self.rng)
        return progressive_sample(self.net.space, self.rng, phase_of(self.epoch, self.config.epochs))

    def _smallest(self) -> Arch:
        if not self.config.progressive:
            return self.net.min_arch()
        phase = phase_of(self.epoch, self.config.epochs)
        values = {k: (v if dimension_kind(k) in PHASES[: phase + 1] else self.net.space.max_values()[k])
                  for k, v in self.net.space.min_values().items()}
        return self.net.space.make(values)

    def _label_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task.heads:  # multi-task: the sum of the heads' losses (nas.multitask)
            return multitask_loss(out, y, self.task.heads)
        return F.cross_entropy(out, y)

    def _sub_loss(self, out: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if not self.config.distill:
            return self._label_loss(out, y)
        t = self.config.kd_temperature
        if self.task.heads:
            return multitask_distill(out, teacher, self.task.heads, t)
        soft = F.softmax(teacher / t, dim=1)
        # Mean per prediction: per sample for (B, C) logits, per position for (B, C, T) sequences.
        per = out.numel() // out.shape[1]
        return F.kl_div(F.log_softmax(out / t, dim=1), soft, reduction="sum") * t * t / per

    def state_meta(self) -> dict[str, Any]:
        """JSON-serialisable trainer state (counters, generator state, recipe)."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "np_rng": self.rng.bit_generator.state,
            "config": asdict(self.config),
        }

    def save(self, path: Path) -> None:
        """Writes supernet weights, optimiser state and generator states atomically."""
        tensors = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        opt_state = self.opt.state_dict()
        groups = opt_state["param_groups"]
        for idx, st in opt_state["state"].items():
            for name, value in st.items():
                tensors[f"opt.{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
        tensors["rng.torch"] = self.torch_gen.get_state()
        meta = self.state_meta() | {"opt_groups": json.loads(json.dumps(groups, default=float))}
        save_checkpoint(path, tensors, meta)

    def load(self, path: Path) -> None:
        """Restores the state written by :meth:`save` (weights, optimiser, generators, counters)."""
        tensors, meta = load_checkpoint(path)
        net_state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        self.net.load_state_dict(net_state)
        if "epoch" not in meta:  # a weights-only file: nothing more to restore
            return
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        self.opt.load_state_dict({"state": state, "param_groups": meta["opt_groups"]})
        self.torch_gen.set_state(tensors["rng.torch"])
        self.rng.bit_generator.state = meta["np_rng"]
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
