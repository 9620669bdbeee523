"""Gradient matching: the score, the partition, the choice of the layer, the schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nas.errors import ConfigError
from nas.sharing.gm_split import (best_split, choice_gradients, cut_score, partition, similarity_matrix,
                                  split_schedule)
from nas.space import Arch, Choice, SearchSpace
from nas.supernet.base import Supernet


class SignNet(Supernet):
    """A conv shared by every choice, then a shared linear head.

    ``op`` uses the conv's output as it is (``pos``, ``pos2``: doubled) or negated (``neg``,
    ``neg2``): the two signs pull the shared weights in opposite directions. ``gain`` scales the
    output by 1.0 or 1.1: choices that agree.
    """

    def __init__(self, length: int = 40) -> None:
        super().__init__(SearchSpace("sign", [Choice("gain", (1, 2)), Choice("op", ("pos", "neg", "pos2", "neg2"))]))
        self.conv = nn.Conv1d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm1d(4, affine=False)
        self.head = nn.Linear(4 * length, 10)
        self.scale = 1.0

    def _set_active(self, arch: Arch) -> None:
        op = str(arch["op"])
        self.scale = (-1.0 if op.startswith("neg") else 1.0) * (2.0 if op.endswith("2") else 1.0)
        self.scale *= 1.0 + 0.1 * (int(arch["gain"]) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head((self.scale * self.bn(self.conv(x))).flatten(1))

    def _export(self, arch: Arch) -> nn.Module:
        raise TypeError("SignNet is a test network without a static form")


@pytest.fixture(scope="module")
def data(mnist1d_task):
    x, y = mnist1d_task.train.x, mnist1d_task.train.y
    return [(x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64)]


def test_conflicting_choices_are_put_into_different_groups(data):
    torch.manual_seed(0)
    net = SignNet()
    split = best_split(net, ["gain", "op"], data, np.random.default_rng(0))
    assert split is not None and split.label == "op"  # the conflicting layer is split first
    assert {frozenset(g) for g in split.groups} == {frozenset({"pos", "pos2"}), frozenset({"neg", "neg2"})}
    sim = np.array(split.similarity)
    assert sim[0, 1] < -0.5 and sim[0, 2] > 0.5  # pos vs neg disagree, pos vs pos2 agree
    assert split.score > 1.0  # mean cosine distance across the groups: opposite directions


def test_agreeing_choices_score_low_and_the_network_is_left_unchanged(data):
    torch.manual_seed(0)
    net = SignNet()
    net.train()
    with torch.no_grad():
        net(data[0][0])  # BN statistics away from their initial values
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.set_arch(net.space.make({"gain": 2, "op": "neg"}))
    grads = choice_gradients(net, "gain", data, np.random.default_rng(1))
    sim = similarity_matrix(list(grads.values()))
    assert sim[0, 1] > 0.9
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.active_arch == net.space.make({"gain": 2, "op": "neg"})
    assert all(p.grad is None for p in net.parameters())


def test_exact_partition_minimises_the_cut_with_balanced_groups():
    sim = np.array([[1.0, 0.9, -0.5, -0.4],
                    [0.9, 1.0, -0.6, -0.3],
                    [-0.5, -0.6, 1.0, 0.8],
                    [-0.4, -0.3, 0.8, 1.0]])
    a, b, score = partition(sim)
    assert (a, b) == ((0, 1), (2, 3))
    assert score == pytest.approx(cut_score(sim, (0, 1))) == pytest.approx(1 + (0.5 + 0.4 + 0.6 + 0.3) / 4)
    # three options: groups of one and two
    a, b, _ = partition(sim[:3, :3])
    assert {a, b} == {(0, 1), (2,)}


def test_graph_partition_recovers_two_clusters_of_many_options():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 32))
    vecs = [base[i % 2] + 0.1 * rng.normal(size=32) for i in range(14)]
    sim = similarity_matrix([torch.tensor(v) for v in vecs])
    a, b, score = partition(sim, seed=0, exact_limit=8)  # 14 > 8: Kernighan-Lin
    assert {frozenset(a), frozenset(b)} == {frozenset(range(0, 14, 2)), frozenset(range(1, 14, 2))}
    assert len(a) == len(b) == 7 and score > 0.5


def test_partition_and_gradients_reject_bad_input(data):
    with pytest.raises(ConfigError, match="`sim` must be a square matrix"):
        partition(np.ones((2, 3)))
    with pytest.raises(ConfigError, match="`group_a` must be a non-empty proper subset"):
        cut_score(np.eye(3), (0, 1, 2))
    with pytest.raises(ConfigError, match="`label` must be a label of space `sign`, got 'width'"):
        choice_gradients(SignNet(), "width", data, np.random.default_rng(0))


def test_split_schedule_defaults_to_half_way_and_checks_epochs():
    assert split_schedule(10) == (5,)
    assert split_schedule(1) == (0,)
    assert split_schedule(0) == ()
    assert split_schedule(10, [6, 3]) == (3, 6)
    with pytest.raises(ConfigError, match=r"`sharing.split_epochs` must hold epochs in \[0, 4\)"):
        split_schedule(4, [4])
    with pytest.raises(ConfigError, match="`sharing.split_epochs` must hold distinct epochs"):
        split_schedule(4, [1, 1])
