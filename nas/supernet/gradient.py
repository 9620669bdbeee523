"""Gradient-based search over entangled choices: superposition driven by architecture weights.

A trainer wrapper for supernets that implement ``set_mixture(weights)`` (``mbconv``, ``tinylm``).
Each step draws the architecture weights of every dimension from its parameters, either from a
Dirichlet (DrNAS: concentration ``softplus(beta)``, reparameterised) or a Gumbel-softmax with an
annealed temperature, runs the superposed supernet once, and updates the network weights on one
half of the training split and the architecture parameters on the other half (first-order,
alternating, as in DrNAS/DARTS).

The result is :meth:`GradientSearch.derive`: the argmax option of every dimension. Its subnet is
exported by the usual slicing (``supernet.export(arch)``), which equals the activated supernet
for that architecture; the architecture weights are *not* folded into the exported weights, so
the derived subnet is scored after BN recalibration (and fine-tuned if wanted) like any other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.data import Split, Task, batches
from nas.errors import invalid
from nas.space import Arch
from nas.supernet.base import Supernet

__all__ = ["GradientConfig", "ArchParameters", "GradientSearch"]

SAMPLERS = ("dirichlet", "gumbel")


@dataclass(frozen=True)
class GradientConfig:
    """Recipe of the gradient-based mode.

    Attributes:
        sampler: ``dirichlet`` (DrNAS) or ``gumbel`` (Gumbel-softmax).
        epochs: Epochs over the weight half of the training split.
        batch_size: Mini-batch size.
        lr: Learning rate of the network weights (AdamW).
        arch_lr: Learning rate of the architecture parameters (Adam).
        tau_start: Gumbel temperature at the start (annealed geometrically to ``tau_end``).
        tau_end: Gumbel temperature at the end.
    """

    sampler: str = "dirichlet"
    epochs: int = 5
    batch_size: int = 128
    lr: float = 3e-3
    arch_lr: float = 3e-2
    tau_start: float = 5.0
    tau_end: float = 0.5

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise invalid("gradient.sampler", f"be one of {list(SAMPLERS)}", self.sampler)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise invalid(f"gradient.{name}", "be positive", getattr(self, name))
        for name in ("lr", "arch_lr", "tau_start", "tau_end"):
            if not getattr(self, name) > 0:
                raise invalid(f"gradient.{name}", "be positive", getattr(self, name))


class ArchParameters(nn.Module):
    """One parameter vector per dimension of a space, and the mixtures drawn from them.

    Args:
        labels_options: ``(label, options)`` of every dimension.
        seed: Seed of the owned generator used for Dirichlet and Gumbel draws.
    """

    def __init__(self, labels_options: list[tuple[str, tuple]], seed: int) -> None:
        super().__init__()
        self.options = dict(labels_options)
        self.params = nn.ParameterDict({self._key(k): nn.Parameter(torch.zeros(len(o))) for k, o in labels_options})
        self.gen = torch.Generator().manual_seed(seed)

    @staticmethod
    def _key(label: str) -> str:
        return label.replace(".", "__")

    def sample(self, sampler: str, tau: float = 1.0) -> dict[str, torch.Tensor]:
        """Architecture weights per label (on the simplex, differentiable in the parameters)."""
        out = {}
        for label in self.options:
            p = self.params[self._key(label)]
            if sampler == "gumbel":
                u = torch.rand(p.shape, generator=self.gen).clamp_(1e-9, 1 - 1e-9)
                out[label] = F.softmax((p - torch.log(-torch.log(u))) / tau, dim=0)
            else:
                # Gamma(a) draws with the owned generator through the implicit reparameterisation
                # torch provides, isolated from (and restoring) the global generator.
                seed = int(torch.randint(2**62, (1,), generator=self.gen))
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    out[label] = torch.distributions.Dirichlet(F.softplus(p) + 1e-3).rsample()
        return out

    def expected(self, sampler: str) -> dict[str, torch.Tensor]:
        """The mean weights (Dirichlet mean, or softmax of the parameters)."""
        out = {}
        for label in self.options:
            p = self.params[self._key(label)].detach()
            conc = F.softplus(p) + 1e-3
            out[label] = conc / conc.sum() if sampler == "dirichlet" else F.softmax(p, dim=0)
        return out


class GradientSearch:
    """Trains a superposable supernet and its architecture parameters; derives the argmax subnet.

    Args:
        supernet: A :class:`Supernet` with ``set_mixture(weights)``.
        task: The task (its training split is halved: weights / architecture).
        config: The recipe.
        seed: Seed of every generator this search owns.
    """

    def __init__(self, supernet: Supernet, task: Task, config: GradientConfig, seed: int) -> None:
        if not hasattr(supernet, "set_mixture"):
            raise invalid("supernet", "implement set_mixture(weights) for the gradient-based mode", type(supernet).__name__)
        self.net, self.config = supernet, config
        space = supernet.space
        self.arch = ArchParameters([(c.label, c.options) for c in space.choices], seed)
        order = torch.randperm(len(task.train), generator=torch.Generator().manual_seed(seed))
        half = len(order) // 2
        self.w_split = Split(task.train.x[order[:half]], task.train.y[order[:half]])
        self.a_split = Split(task.train.x[order[half:]], task.train.y[order[half:]])
        self.opt_w = torch.optim.AdamW(supernet.parameters(), lr=config.lr, weight_decay=1e-4)
        self.opt_a = torch.optim.Adam(self.arch.parameters(), lr=config.arch_lr, betas=(0.5, 0.999))
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    def tau(self) -> float:
        """The Gumbel temperature of the current epoch (geometric annealing)."""
        c = self.config
        frac = self.epoch / max(1, c.epochs - 1)
        return c.tau_start * math.exp(frac * math.log(c.tau_end / c.tau_start))

    def fit(self) -> list[dict[str, float]]:
        """Runs the remaining epochs; returns per-epoch mean losses (weights, architecture)."""
        self.net.train()
        while self.epoch < self.config.epochs:
            losses = np.zeros(2)
            n = 0
            arch_batches = batches(self.a_split, self.config.batch_size, self.gen)
            for (xw, yw), (xa, ya) in zip(batches(self.w_split, self.config.batch_size, self.gen), arch_batches):
                losses += (self._step(xw, yw, self.opt_w), self._step(xa, ya, self.opt_a))
                n += 1
            self.epoch += 1
            self.history.append({"epoch": self.epoch, "loss_w": losses[0] / max(1, n), "loss_a": losses[1] / max(1, n)})
        self.net.set_arch(self.derive())
        return self.history

    def _step(self, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer) -> float:
        self.opt_w.zero_grad(set_to_none=True)
        self.opt_a.zero_grad(set_to_none=True)
        self.net.set_mixture(self.arch.sample(self.config.sampler, self.tau()))  # type: ignore[attr-defined]
        loss = F.cross_entropy(self.net(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: weights, architecture parameters, optimisers, generators."""
        return {"net": self.net.state_dict(), "arch": self.arch.state_dict(), "opt_w": self.opt_w.state_dict(),
                "opt_a": self.opt_a.state_dict(), "epoch": self.epoch, "history": list(self.history),
                "gen": self.gen.get_state(), "arch_gen": self.arch.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.net.load_state_dict(state["net"])
        self.arch.load_state_dict(state["arch"])
        self.opt_w.load_state_dict(state["opt_w"])
        self.opt_a.load_state_dict(state["opt_a"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        self.gen.set_state(state["gen"])
        self.arch.gen.set_state(state["arch_gen"])

    def derive(self) -> Arch:
        """The argmax architecture (dimensions inactive under its depths are dropped)."""
        weights = self.arch.expected(self.config.sampler)
        values = {label: self.arch.options[label][int(torch.argmax(w))] for label, w in weights.items()}
        return self.net.space.make(values)
