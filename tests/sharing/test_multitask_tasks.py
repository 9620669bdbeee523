"""Multi-task tasks: the built-in tasks' labels, the summed loss, per-head metrics in evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.data import TASKS
from nas.errors import ConfigError
from nas.multitask import check_heads, head_accuracies, multitask_loss, split_logits
from search_spaces.multitask_tasks import AFFINITY_GROUPS, make_affinity, template_families


def test_mnist1d_multi_derives_every_head_from_the_digit() -> None:
    task = TASKS.get("mnist1d-multi").load(0)
    plain = TASKS.get("mnist1d").load(0)
    assert task.heads == (("digit", 10), ("parity", 2), ("big", 2), ("family", 3)) and task.num_classes == 17
    assert TASKS.get("mnist1d-multi").heads == ("digit", "parity", "big", "family")
    y = task.train.y
    assert y.shape == (len(plain.train), 4) and torch.equal(task.train.x, plain.train.x)
    assert torch.equal(y[:, 0], plain.train.y)
    assert torch.equal(y[:, 1], y[:, 0] % 2) and torch.equal(y[:, 2], (y[:, 0] > 4).long())
    fam = torch.as_tensor(template_families())
    assert torch.equal(y[:, 3], fam[y[:, 0]])
    assert sorted(set(template_families().tolist())) == [0, 1, 2]  # all three families occur


def test_synthetic_affinity_heads_depend_on_their_own_group_only() -> None:
    task = TASKS.get("synthetic-affinity").load(0)
    assert task.input_shape == (2, 32) and task.train.y.shape[1] == 4 and len(AFFINITY_GROUPS) == 4
    a = make_affinity(seed=5, num_samples=4000)
    assert np.array_equal(a["x"], make_affinity(seed=5, num_samples=4000)["x"])
    assert not np.array_equal(a["x"], make_affinity(seed=6, num_samples=4000)["x"])
    y, x = a["y"], a["x"]
    # the product head is the XOR of the quadrant's two sign bits (same features, read differently)
    assert np.array_equal(y[:, 1], np.isin(y[:, 0], (0, 3)).astype(np.int64))
    assert np.array_equal(y[:, 3], np.isin(y[:, 2], (0, 3)).astype(np.int64))
    # channel 0 carries group A, channel 1 group B: each channel predicts its own quadrant only
    def probe(channel: int, head: int) -> float:
        feats = np.c_[x[:3000, channel], np.ones(3000)]
        onehot = np.eye(4)[y[:3000, head]]
        w, *_ = np.linalg.lstsq(feats, onehot, rcond=None)
        pred = (np.c_[x[3000:, channel], np.ones(1000)] @ w).argmax(1)
        return float((pred == y[3000:, head]).mean())
    assert probe(0, 0) > 0.6 and probe(1, 2) > 0.6
    assert probe(0, 2) < 0.35 and probe(1, 0) < 0.35


def test_summed_loss_and_head_accuracies() -> None:
    heads = (("p", 3), ("q", 2))
    out = torch.randn(5, 5)
    y = torch.tensor([[0, 1], [2, 0], [1, 1], [0, 0], [2, 1]])
    expected = F.cross_entropy(out[:, :3], y[:, 0]) + F.cross_entropy(out[:, 3:], y[:, 1])
    assert torch.allclose(multitask_loss(out, y, heads), expected)
    with pytest.raises(ConfigError, match="output"):
        split_logits(torch.randn(5, 4), heads)
    with pytest.raises(ConfigError, match="heads"):
        check_heads((("p", 3), ("p", 2)))

    class Oracle(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([F.one_hot(x[:, 0].long(), 3), F.one_hot(torch.zeros_like(x[:, 1]).long(), 2)], 1).float()

    from nas.data import Split

    accs = head_accuracies(Oracle(), Split(y.float(), y), heads)
    assert accs["acc_p"] == 100.0 and accs["acc_q"] == pytest.approx(40.0) and accs["accuracy"] == pytest.approx(70.0)
