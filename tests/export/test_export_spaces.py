"""Every registered trainable space exports: generated source, weights and the supernet agree.

Parametrised over ``nas.catalog.SPACES``, so spaces registered later (mbconv, tinylm) are covered
as soon as they land. An untrained supernet (seeded) is enough: equality does not need accuracy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nas.catalog import SPACES
from nas.data import TASKS, Split
from nas.evaluate import EvalConfig
from nas.export import load_export
from nas.export.pipeline import export_arch
from nas.profiling.measure import LatencyProtocol
from nas.supernet.base import seeded_build

TRAINABLE = [name for name in SPACES if SPACES.get(name).trainable]
FAST = EvalConfig(calib_batches=2, calib_batch_size=64, latency=LatencyProtocol(warmup=2, repeats=5))


def _small(task):
    cut = lambda s, n: Split(s.x[:n], s.y[:n])  # noqa: E731
    return dataclasses.replace(task, train=cut(task.train, 256), val=cut(task.val, 128), test=cut(task.test, 128))


@pytest.mark.parametrize("space_name", TRAINABLE)
def test_every_trainable_space_exports_a_subnet_equal_to_the_supernet(space_name, tmp_path):
    spec = SPACES.get(space_name)
    task = _small(TASKS.get(spec.default_task).load(0))
    space = spec.build_space()
    net = seeded_build(lambda: spec.build_supernet(space, task), 0).eval()
    arch = space.sample(np.random.default_rng(3))
    res = export_arch(net, task, arch, tmp_path / "e", eval_config=FAST, formats=("pytorch",), check_size=8)
    assert res.verify["equality"]["loaded_vs_supernet"] <= 1e-5
    loaded = load_export(tmp_path / "e")
    assert loaded.arch == arch.to_dict()
    assert loaded.recheck() <= 1e-5
    assert sorted(loaded.model.state_dict()) == sorted(net.export(arch).state_dict())
