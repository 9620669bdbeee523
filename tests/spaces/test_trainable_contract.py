"""Contract suite over every registered trainable space (DESIGN §7.10, timm ``test_models.py``).

Each case builds the space's supernet for its default task and checks, on a batch of 4 real
inputs: forward, backward, no NaN, every parameter receives a gradient, ``export(arch)`` equals the
activated supernet to 1e-5 for the max, min and random architectures, ``activate`` restores the
previous subnet, and ``arch_id`` is the same in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from nas.catalog import SPACES
from nas.data import TASKS
from nas.supernet.base import seeded_build
from tests.conftest import REPO
from tests.spaces.conftest import TRAINABLE

BATCH = 4


@pytest.fixture(scope="module")
def built():
    """``name -> (supernet, inputs)``, built once per space for the module."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            spec = SPACES.get(name)
            task = TASKS.get(spec.default_task).load(0)
            net = seeded_build(lambda: spec.build_supernet(spec.build_space(), task), 0)
            x = task.train.x[:BATCH]
            _perturb_statistics(net, x)
            cache[name] = (net, x)
        return cache[name]

    return get


def _perturb_statistics(net, x) -> None:
    """Train-mode forwards of a few subnets so BN running statistics are not the trivial 0/1."""
    rng = np.random.default_rng(1)
    net.train()
    with torch.no_grad():
        for arch in [net.max_arch(), net.min_arch(), net.space.sample(rng)]:
            with net.activate(arch):
                net(x)


def _archs(net, n_random: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [net.max_arch(), net.min_arch()] + [net.space.sample(rng) for _ in range(n_random)]


def _weighted_sum(out: torch.Tensor, seed: int) -> torch.Tensor:
    """A scalar that depends on every output element (task-agnostic stand-in for a loss)."""
    gen = torch.Generator().manual_seed(seed)
    return (out.float() * torch.randn(out.shape, generator=gen)).sum()


def test_at_least_one_trainable_space_is_registered():
    assert "cnn1d" in TRAINABLE


@pytest.mark.parametrize("name", TRAINABLE)
def test_forward_backward_no_nan_and_every_parameter_gets_a_gradient(name, built):
    net, x = built(name)
    net.train()
    net.zero_grad(set_to_none=True)
    for i, arch in enumerate(_archs(net)):
        with net.activate(arch):
            out = net(x)
        assert out.shape[0] == BATCH
        assert torch.isfinite(out).all(), f"{name}: non-finite output for {arch.short()}"
        _weighted_sum(out, i).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"{name}: parameters without gradient: {missing[:10]}"
    bad = [n for n, p in net.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:10]}"
    net.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", TRAINABLE)
def test_export_equals_activated_supernet(name, built):
    net, x = built(name)
    net.eval()
    n_super = sum(p.numel() for p in net.parameters())
    for arch in _archs(net, seed=2):
        with torch.no_grad(), net.activate(arch):
            expected = net(x)
        static = net.export(arch).eval()
        with torch.no_grad():
            got = static(x)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-5, rtol=0), f"{name}: export differs for {arch.short()}"
        assert sum(p.numel() for p in static.parameters()) <= n_super
        assert not any(p is q for p in static.parameters() for q in net.parameters()), "export must copy weights"


@pytest.mark.parametrize("name", TRAINABLE)
def test_min_subnet_is_smaller_and_activate_restores(name, built):
    net, _ = built(name)
    small, big = net.min_arch(), net.max_arch()
    n_small = sum(p.numel() for p in net.export(small).parameters())
    n_big = sum(p.numel() for p in net.export(big).parameters())
    assert n_small < n_big
    net.set_arch(big)
    with net.activate(small):
        assert net.active_arch == small
    assert net.active_arch == big


_ID_SCRIPT = """
import json, numpy as np, search_spaces
from nas.catalog import SPACES
out = {}
for name in json.loads(NAMES):
    space = SPACES.get(name).build_space()
    rng = np.random.default_rng(7)
    archs = [space.make(space.max_values()), space.make(space.min_values())] + [space.sample(rng) for _ in range(5)]
    out[name] = [a.arch_id for a in archs]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def subprocess_ids():
    """Arch ids of every registered non-prefix space, computed in a fresh interpreter."""
    names = SPACES.names()
    script = _ID_SCRIPT.replace("NAMES", repr(json.dumps(names)))
    env = dict(os.environ, PYTHONHASHSEED="12345")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", SPACES.names())
def test_arch_id_is_stable_across_processes(name, subprocess_ids):
    space = SPACES.get(name).build_space()
    rng = np.random.default_rng(7)
    archs = [space.make(space.max_values()), space.make(space.min_values())] + [space.sample(rng) for _ in range(5)]
    assert [a.arch_id for a in archs] == subprocess_ids[name]
    assert len(set(subprocess_ids[name])) > 1
