"""Fixtures of the profiling tests: a deterministic measurer and tiny build settings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nas.profiling.backends import Item
from nas.profiling.cost import count_macs
from nas.profiling.measure import LatencyProtocol, LatencyResult
from nas.profiling.profiler import ProfileSettings

OVERHEAD_MS = 0.05


class CostMeasurer:
    """A measurer whose 'time' is a function of the module (MACs), plus a fixed per-call overhead.

    Deterministic, so that composition and correction can be checked exactly; every call is logged.
    """

    node = "fake-node"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, items: Sequence[Item], protocol: LatencyProtocol, rounds: int = 1,
                 seed: int = 0) -> list[LatencyResult]:
        self.calls.append(len(items))
        out = []
        for it in items:
            macs = count_macs(it.module, tuple(it.shapes[0][1:]))
            out.append(LatencyResult(OVERHEAD_MS + macs / 1e6, 0.0, protocol.repeats, node=self.node))
        return out

    def fingerprint(self) -> dict[str, str]:
        return {"cpu": "fake", "torch": "0"}


@pytest.fixture
def cost_measurer() -> CostMeasurer:
    """A fresh deterministic measurer."""
    return CostMeasurer()


@pytest.fixture
def tiny_settings() -> ProfileSettings:
    """Build settings small enough for a test (few subnets, short protocols)."""
    return ProfileSettings(samples=8, val_samples=6, lut_archs=10, saturation=4, rounds=1, lut_rounds=1,
                           protocol=LatencyProtocol(warmup=2, repeats=5),
                           lut_protocol=LatencyProtocol(warmup=1, repeats=3))


@pytest.fixture(scope="session")
def cnn1d_net():
    """An untrained cnn1d supernet for MNIST-1D shapes (weights do not matter for timing)."""
    from nas.catalog import SPACES
    from nas.supernet.base import seeded_build

    spec = SPACES.get("cnn1d")

    class _Shape:
        input_shape, num_classes = (1, 40), 10

    return seeded_build(lambda: spec.build_supernet(spec.build_space(), _Shape), 0).eval()
