"""Progressive shrinking: kernels first, then depth, then every dimension."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nas.catalog import SPACES
from nas.data import TASKS, Split
from nas.errors import ConfigError
from nas.supernet.progressive import dimension_kind, phase_of, progressive_sample
from nas.train import TrainConfig, Trainer


def _varied(space, archs):
    top = space.make(space.max_values()).to_dict()
    return {dimension_kind(k) for a in archs for k, v in a.to_dict().items() if top.get(k, v) != v} | (
        {"depth"} if any(len(a.items) != len(top) for a in archs) else set())


def test_phases_unlock_kernel_then_depth_then_width():
    space, rng = SPACES.get("mbconv").build_space(), np.random.default_rng(0)
    seen = [_varied(space, [progressive_sample(space, rng, p) for _ in range(60)]) for p in range(3)]
    assert seen == [{"kernel"}, {"kernel", "depth"}, {"kernel", "depth", "width"}]
    assert [phase_of(e, 9) for e in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.raises(ConfigError, match="`phase` must be in"):
        progressive_sample(space, rng, 3)


def test_trainer_option_samples_by_phase():
    spec, task = SPACES.get("tinylm"), TASKS.get("pydoc-text").load(0)
    task = replace(task, train=Split(task.train.x[:8], task.train.y[:8]))
    net = spec.build_supernet(spec.build_space(), task)
    trainer = Trainer(net, task, TrainConfig(epochs=3, progressive=True), seed=0)
    smallest_first = trainer._smallest()
    assert smallest_first == net.max_arch()  # tinylm has no kernel dimension: nothing shrinks yet
    trainer.epoch = 1
    assert _varied(net.space, [trainer._sample() for _ in range(30)]) == {"depth"}
    trainer.epoch = 2
    assert trainer._smallest() == net.min_arch()
    plain = Trainer(net, task, TrainConfig(epochs=3), seed=0)
    assert plain._smallest() == net.min_arch()
