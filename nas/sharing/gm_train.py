"""Training with gradient-matching splits: the sandwich rule per sub-supernet, splits at scheduled epochs.

Call sequence (one :class:`GMTrainer` per run)::

    trainer = GMTrainer(net, task, train_cfg, seed, GMSettings(split_epochs=(5,), labels=(...)))
    trainer.fit(checkpoint, on_epoch, on_split)
        for epoch in range(epochs):
            if epoch is scheduled: every sub-supernet (up to max_subnets) is scored on gm_batches
                batches, its layer with the largest cut score is split into two children that
                inherit weights, optimiser state, counters and generators exactly
            every sub-supernet trains one epoch (sandwich rule inside its own part of the space)
            checkpoint: all sub-supernets, their optimisers and the split structure, in one file

Every sub-supernet thus sees ``train.epochs`` epochs in total counting those it inherited (the
GM-NAS protocol: equal epochs per sub-supernet; compute grows with the number of them). The
checkpoint is the commit point: a run killed after a split but before the next checkpoint
resumes from the structure in the checkpoint and repeats the split (its batches and choices are
drawn from generators seeded by the run seed and the epoch, so it repeats exactly).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.checkpoint import load_checkpoint, save_checkpoint
from nas.data import Task, batches
from nas.errors import ConfigError, invalid
from nas.search.loop import derive_seed
from nas.sharing.gm_split import LayerSplit, best_split
from nas.sharing.routed import SubSupernets
from nas.train import EpochStats, TrainConfig, Trainer

__all__ = ["GMSettings", "GMTrainer"]


@dataclass(frozen=True)
class GMSettings:
    """How and when the supernet splits.

    Attributes:
        split_epochs: Epochs at whose start a split round runs (sorted, each < epochs).
        labels: Candidate layers (unconditional labels).
        gm_batches: Batches over which each option's gradient is averaged.
        max_subnets: Largest number of sub-supernets; a round stops splitting there.
        rounds: Split rounds at each scheduled epoch (each splits every sub-supernet once, so
            ``2 ** rounds`` sub-supernets after one scheduled epoch, up to ``max_subnets``).
    """

    split_epochs: tuple[int, ...]
    labels: tuple[str, ...]
    gm_batches: int = 4
    max_subnets: int = 4
    rounds: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.rounds <= 4:
            raise invalid("rounds", "be in [1, 4]", self.rounds)


class _SubTrainer(Trainer):
    """The sandwich-rule trainer of one sub-supernet, driven one epoch at a time."""

    def train_epoch(self) -> EpochStats:
        """Runs one epoch and advances the epoch counter."""
        stats = self._run_epoch()
        self.epoch += 1
        return stats

    def inherit(self, parent: Trainer) -> None:
        """Takes the parent's optimiser state, counters and generator states exactly."""
        self.opt.load_state_dict(copy.deepcopy(parent.opt.state_dict()))
        self.epoch, self.step = parent.epoch, parent.step
        self.rng.bit_generator.state = copy.deepcopy(parent.rng.bit_generator.state)
        self.torch_gen.set_state(parent.torch_gen.get_state())


class GMTrainer:
    """Trains a :class:`SubSupernets`, splitting it on schedule; checkpointable at epoch ends.

    Args:
        net: The split supernet (its current structure is trained as it is).
        task: The task (``train`` split for training and gradient matching).
        config: The training recipe (each sub-supernet runs it).
        seed: Seed of every generator (derived per sub-supernet and per split round).
        settings: The split schedule and candidates.
    """

    def __init__(self, net: SubSupernets, task: Task, config: TrainConfig, seed: int, settings: GMSettings) -> None:
        self.net, self.task, self.config, self.seed, self.settings = net, task, config, seed, settings
        self.trainers = [_SubTrainer(net.sub(i), task, config, derive_seed(seed, i)) for i in range(len(net))]
        self.epoch = 0

    def split_round(self, epoch: int, on_split: Callable[[dict[str, Any]], None] | None = None) -> list[LayerSplit]:
        """Splits every current sub-supernet (up to ``max_subnets``) along its best layer."""
        done = []
        for index in range(len(self.net)):
            if len(self.net) >= self.settings.max_subnets:
                break
            sub = self.net.sub(index)
            rng = np.random.default_rng(derive_seed(self.seed, 100 + epoch, index))
            gen = torch.Generator().manual_seed(derive_seed(self.seed, 200 + epoch, index))
            stream = batches(self.task.train, self.config.batch_size, gen)
            data = [b for _, b in zip(range(self.settings.gm_batches), stream)]
            split = best_split(sub, self.settings.labels, data, rng, seed=derive_seed(self.seed, 300 + epoch, index))
            if split is None:
                continue
            entry = self.split(index, split, epoch)
            done.append(split)
            if on_split is not None:
                on_split(entry)
        return done

    def split(self, index: int, split: LayerSplit, epoch: int) -> dict[str, Any]:
        """Splits sub-supernet ``index`` as ``split`` says; the new child's trainer inherits the
        parent's optimiser state, counters and generators. Returns the history record."""
        child = self.net.split(index, split.label, split.groups)  # checks the index and the groups
        parent = self.trainers[index]
        trainer = _SubTrainer(self.net.sub(child), self.task, self.config, derive_seed(self.seed, child))
        trainer.inherit(parent)
        self.trainers.append(trainer)
        entry = {"epoch": epoch, "parent": index, "child": child, **split.to_dict()}
        self.net.history.append(entry)
        return entry

    def fit(self, checkpoint: Path | None = None, on_epoch: Callable[[EpochStats], None] | None = None,
            on_split: Callable[[dict[str, Any]], None] | None = None) -> list[EpochStats]:
        """Trains until ``config.epochs`` with the split rounds, checkpointing after every epoch."""
        if checkpoint is not None and checkpoint.exists():
            self.load(checkpoint)
        threads_before = torch.get_num_threads()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        out = []
        try:
            for epoch in range(self.epoch, self.config.epochs):
                if epoch in self.settings.split_epochs and not any(h["epoch"] == epoch for h in self.net.history):
                    for _ in range(self.settings.rounds):
                        self.split_round(epoch, on_split)
                stats = [t.train_epoch() for t in self.trainers]
                self.epoch = epoch + 1
                if checkpoint is not None:
                    self.save(checkpoint)
                merged = EpochStats(self.epoch, float(np.mean([s.loss_max for s in stats])),
                                    float(np.mean([s.loss_sub for s in stats])), float(sum(s.seconds for s in stats)))
                out.append(merged)
                if on_epoch is not None:
                    on_epoch(merged)
        finally:
            torch.set_num_threads(threads_before)
        self.net.set_arch(self.net.max_arch())
        return out

    def save(self, path: Path) -> None:
        """Writes every sub-supernet, optimiser and generator, and the structure, atomically."""
        tensors: dict[str, torch.Tensor] = {}
        subs = []
        for i, t in enumerate(self.trainers):
            opt_state = t.opt.state_dict()
            for idx, st in opt_state["state"].items():
                for name, value in st.items():
                    tensors[f"sub{i}.opt.{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"sub{i}.rng.torch"] = t.torch_gen.get_state()
            subs.append(t.state_meta() | {"opt_groups": json.loads(json.dumps(opt_state["param_groups"], default=float))})
        tensors |= {f"net.{k}": v for k, v in self.net.state_dict().items()}
        meta = {"gm_epoch": self.epoch, "structure": self.net.structure, "history": self.net.history, "subs": subs}
        save_checkpoint(path, tensors, meta)

    def load(self, path: Path) -> None:
        """Restores :meth:`save`'s state, rebuilding the sub-supernets of the saved structure."""
        tensors, meta = load_checkpoint(path)
        if "gm_epoch" not in meta:
            raise ConfigError(f"`checkpoint` {str(path)!r} must be a gradient-matching training state, got another kind")
        self._rebuild(meta["structure"])
        self.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        for i, (t, m) in enumerate(zip(self.trainers, meta["subs"])):
            state: dict[int, dict[str, torch.Tensor]] = {}
            prefix = f"sub{i}.opt."
            for k, v in tensors.items():
                if k.startswith(prefix):
                    idx, name = k[len(prefix):].split(".", 1)
                    state.setdefault(int(idx), {})[name] = v
            t.opt.load_state_dict({"state": state, "param_groups": m["opt_groups"]})
            t.torch_gen.set_state(tensors[f"sub{i}.rng.torch"])
            t.rng.bit_generator.state = m["np_rng"]
            t.epoch, t.step = int(m["epoch"]), int(m["step"])
        self.epoch, self.net.history = int(meta["gm_epoch"]), list(meta["history"])

    def _rebuild(self, structure: Sequence[dict[str, Any]]) -> None:
        """Replays the saved splits on an unsplit network (a resumed run starts from one)."""
        if self.net.structure == structure:
            return
        base = self.net.sub(0)
        base.space = self.net.space  # the copies are overwritten by the checkpoint's weights next
        fresh = SubSupernets(base, structure)
        self.net.structure, self.net.subs = fresh.structure, fresh.subs
        self.trainers = [_SubTrainer(self.net.sub(i), self.task, self.config, derive_seed(self.seed, i))
                         for i in range(len(self.net))]
