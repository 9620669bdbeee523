"""The ``cell1d`` space: 64 architectures, conv3/conv5 entangled per edge, static export by source."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nas.catalog import SPACES
from nas.data import Split
from nas.errors import ConfigError
from nas.evaluate import EvalConfig
from nas.export.pipeline import export_arch
from nas.profiling.measure import LatencyProtocol
from nas.supernet.base import seeded_build
from search_spaces.cell1d import EDGES, OPS, ConvOp, short_cell1d


@pytest.fixture(scope="module")
def net(mnist1d_task):
    spec = SPACES.get("cell1d")
    return seeded_build(lambda: spec.build_supernet(spec.build_space(), mnist1d_task), 0).eval()


def _uniform(net, op: str):
    return net.space.make({f"{e}.op": op for e in EDGES})


def test_the_space_enumerates_64_distinct_architectures(net):
    archs = list(net.space.enumerate())
    assert len(archs) == len(OPS) ** len(EDGES) == 64
    assert len({a.arch_id for a in archs}) == 64
    assert len({short_cell1d(a) for a in archs}) == 64
    assert net.max_arch() == _uniform(net, "conv5") and net.min_arch() == _uniform(net, "skip")


def test_conv3_is_the_centre_crop_of_the_edges_conv5_weight_and_shares_its_norm(net):
    m3, m5 = net.export(_uniform(net, "conv3")), net.export(_uniform(net, "conv5"))
    for cell3, cell5 in zip(m3.cells, m5.cells):
        for e in EDGES:
            op3, op5 = getattr(cell3, e), getattr(cell5, e)
            assert isinstance(op3, ConvOp) and op3.conv.kernel_size == (3,) and op5.conv.kernel_size == (5,)
            assert torch.equal(op3.conv.weight, op5.conv.weight[..., 1:4])
            assert torch.equal(op3.bn.weight, op5.bn.weight) and torch.equal(op3.bn.running_var, op5.bn.running_var)
    skip = net.export(_uniform(net, "skip"))
    assert all(isinstance(getattr(c, e), torch.nn.Identity) for c in skip.cells for e in EDGES)
    assert sum(p.numel() for p in skip.parameters()) < sum(p.numel() for p in m3.parameters())


def test_operations_change_the_output(net, mnist1d_task):
    x = mnist1d_task.val.x[:8]
    outs = []
    for op in OPS:
        with torch.no_grad(), net.activate(_uniform(net, op)):
            outs.append(net(x))
    assert all(not torch.allclose(a, b) for i, a in enumerate(outs) for b in outs[i + 1:])


def test_owned_parameters_are_the_edges_weights_in_every_cell(net):
    owned = net.owned_parameters("e12.op")
    names = [n for n, _ in net.named_parameters() if n.startswith(owned)]
    assert owned == ("cells.0.edges.e12.", "cells.1.edges.e12.")
    assert sorted(names) == sorted(f"cells.{c}.edges.e12.{p}" for c in range(2) for p in ("conv.weight", "bn.weight", "bn.bias"))
    with pytest.raises(ConfigError, match="`label` must name an edge"):
        net.owned_parameters("e99.op")


@pytest.mark.parametrize("op", OPS)
def test_exported_model_source_equals_the_supernet(net, mnist1d_task, op, tmp_path):
    cut = lambda s, n: Split(s.x[:n], s.y[:n])  # noqa: E731
    task = dataclasses.replace(mnist1d_task, train=cut(mnist1d_task.train, 128), val=cut(mnist1d_task.val, 64),
                               test=cut(mnist1d_task.test, 64))
    fast = EvalConfig(calib_batches=1, calib_batch_size=64, latency=LatencyProtocol(warmup=2, repeats=5))
    arch = net.space.make({"e01.op": op, "e02.op": OPS[(OPS.index(op) + 1) % 4], "e12.op": OPS[(OPS.index(op) + 2) % 4]})
    res = export_arch(net, task, arch, tmp_path / "e", eval_config=fast, formats=("pytorch",), check_size=8)
    assert res.verify["equality"]["ok"] and res.verify["equality"]["loaded_vs_supernet"] <= 1e-5
