"""Fine-tuning the exported static model on the task's training data (``--finetune-epochs``).

Plain supervised training (AdamW, cosine decay from a small learning rate) of the standalone
model. The weights kept are those of the epoch with the best validation accuracy, the exported
weights themselves included as epoch 0, so fine-tuning never makes the validation score worse;
test accuracy is measured before and after and only reported.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nas.data import Task, batches
from nas.errors import invalid
from nas.evaluate import accuracy
from nas.multitask import multitask_loss

__all__ = ["FinetuneConfig", "FinetuneReport", "finetune"]


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning recipe.

    Attributes:
        epochs: Passes over the training split (0 disables fine-tuning).
        lr: Peak learning rate (AdamW), decayed by a cosine to zero.
        weight_decay: AdamW weight decay.
        batch_size: Mini-batch size.
        seed: Seed of the batch order.
    """

    epochs: int = 3
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.epochs <= 1000:
            raise invalid("--finetune-epochs", "be between 0 and 1000", self.epochs)
        if not self.lr > 0:
            raise invalid("finetune.lr", "be positive", self.lr)
        if self.batch_size <= 0:
            raise invalid("finetune.batch_size", "be positive", self.batch_size)


@dataclass
class FinetuneReport:
    """Accuracies (%) before and after, per-epoch validation accuracy, and the epoch kept."""

    epochs: int
    val_before: float
    test_before: float
    val_after: float
    test_after: float
    kept_epoch: int
    val_per_epoch: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def _lr(cfg: FinetuneConfig, step: int, total: int) -> float:
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / max(1, total))))


def _loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over classes (dimension 1, as the supernet trainer scores it): sequence
    outputs ``(B, C, T)`` with targets ``(B, T)`` are scored per position."""
    return F.cross_entropy(out, y)


def finetune(model: nn.Module, task: Task, config: FinetuneConfig) -> FinetuneReport:
    """Fine-tunes ``model`` in place and leaves it in eval mode with the best-validation weights.

    Args:
        model: The standalone model (its weights are updated).
        task: The task (train split for training, validation to choose, test reported).
        config: The recipe.
    """
    val0, test0 = accuracy(model, task.val, heads=task.heads), accuracy(model, task.test, heads=task.heads)
    best_val, best_state, kept = val0, copy.deepcopy(model.state_dict()), 0
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * math.ceil(len(task.train) / config.batch_size)
    step, per_epoch = 0, []
    for epoch in range(1, config.epochs + 1):
        model.train()
        for x, y in batches(task.train, config.batch_size, gen):
            for group in opt.param_groups:
                group["lr"] = _lr(config, step, total)
            opt.zero_grad(set_to_none=True)
            (multitask_loss(model(x), y, task.heads) if task.heads else _loss(model(x), y)).backward()
            opt.step()
            step += 1
        val = accuracy(model, task.val, heads=task.heads)
        per_epoch.append(val)
        if val > best_val:
            best_val, best_state, kept = val, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    model.eval()
    return FinetuneReport(config.epochs, val0, test0, best_val, accuracy(model, task.test, heads=task.heads), kept, per_epoch)
