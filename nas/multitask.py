"""Multi-task tasks: several classification heads on one input, one concatenated output.

A multi-task :class:`~nas.data.Task` lists its heads as ``(name, classes)`` in ``Task.heads``;
its targets are ``(N, T)`` integer tensors (column ``t`` for head ``t``), and a model's output is
the concatenation of the heads' logits along dimension 1 (width ``sum(classes)``). Training
minimises the sum of the heads' cross-entropies; evaluation reports ``acc_<head>`` per head and
``accuracy`` as the mean over heads. Single-task tasks (no heads) are untouched by all of this.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nas.data import Split
from nas.errors import invalid

__all__ = ["Heads", "split_logits", "multitask_loss", "multitask_distill", "head_accuracies", "head_metrics",
           "check_heads"]

Heads = Sequence[tuple[str, int]]


def check_heads(heads: Heads) -> tuple[tuple[str, int], ...]:
    """Validates head declarations: distinct non-empty names, at least 2 classes each.

    Raises:
        ConfigError: naming the rule and the value.
    """
    out = tuple((str(n), int(c)) for n, c in heads)
    names = [n for n, _ in out]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise invalid("heads", "have distinct non-empty names", names)
    for n, c in out:
        if c < 2:
            raise invalid(f"heads.{n}", "have at least 2 classes", c)
    return out


def head_metrics(names: Sequence[str]) -> tuple[str, ...]:
    """Metric names of the per-head accuracies: ``acc_<head>``."""
    return tuple(f"acc_{n}" for n in names)


def split_logits(out: torch.Tensor, heads: Heads) -> list[torch.Tensor]:
    """Splits concatenated logits ``(B, sum(classes))`` into one ``(B, classes)`` tensor per head.

    Raises:
        ConfigError: if the output width is not the heads' total.
    """
    sizes = [c for _, c in heads]
    if out.shape[1] != sum(sizes):
        raise invalid("output", f"have {sum(sizes)} logits (the heads' classes summed)", tuple(out.shape))
    return list(out.split(sizes, dim=1))


def multitask_loss(out: torch.Tensor, y: torch.Tensor, heads: Heads) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy of each head against its target column."""
    parts = split_logits(out, heads)
    return sum((F.cross_entropy(p, y[:, t]) for t, p in enumerate(parts)), torch.zeros(()))


def multitask_distill(out: torch.Tensor, teacher: torch.Tensor, heads: Heads, temperature: float) -> torch.Tensor:
    """Sum over heads of the KL divergence from the teacher's softened head distribution (in-place KD)."""
    total = torch.zeros(())
    t = temperature
    for p, q in zip(split_logits(out, heads), split_logits(teacher, heads)):
        total = total + F.kl_div(F.log_softmax(p / t, dim=1), F.softmax(q / t, dim=1), reduction="batchmean") * t * t
    return total


@torch.no_grad()
def head_accuracies(module: nn.Module, split: Split, heads: Heads, batch_size: int = 1000) -> dict[str, float]:
    """Per-head accuracy (%) ``acc_<head>`` and their mean ``accuracy`` of ``module`` (eval mode) on ``split``."""
    module.eval()
    correct = torch.zeros(len(heads), dtype=torch.long)
    for i in range(0, len(split), batch_size):
        parts = split_logits(module(split.x[i : i + batch_size]), heads)
        y = split.y[i : i + batch_size]
        for t, p in enumerate(parts):
            correct[t] += int((p.argmax(1) == y[:, t]).sum())
    n = max(1, len(split))
    accs = {f"acc_{name}": 100.0 * float(correct[t]) / n for t, (name, _) in enumerate(heads)}
    accs["accuracy"] = sum(accs.values()) / max(1, len(heads))
    return accs
