"""Devices as Ray nodes: a resource no node holds fails fast; a two-node cluster measures on the right node.

The two-node tests join a second local node to the session cluster (``ray_cluster``, started by
``ray.init``) with ``ray start --address <gcs> --resources '{"testdevice": 1}' --block``, started
in its own session so that only its processes are stopped afterwards (never ``ray stop``, which
would stop every Ray process on the machine). They take tens of seconds on 2 cores: ``slow``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from nas.errors import ConfigError
from nas.profiling.backends import Item
from nas.profiling.devices import parse_device
from nas.profiling.measure import LatencyProtocol
from nas.profiling.placement import RayMeasurer, require_resource
from tests.conftest import TINY

pytestmark = pytest.mark.usefixtures("ray_cluster")
RESOURCE = "testdevice"
PROTO = LatencyProtocol(warmup=1, repeats=4)


def test_a_resource_no_node_holds_fails_within_the_bounded_wait():
    with pytest.raises(ConfigError, match=r"ray:nosuchdevice must name a resource.*ray start"):
        require_resource("nosuchdevice", wait_s=1.0, poll_s=0.2)
    m = RayMeasurer(parse_device("ray:nosuchdevice"), wait_s=1.0)
    with pytest.raises(ConfigError, match="nosuchdevice"):
        m([Item(nn.Linear(4, 2), ((1, 4),))], PROTO)


@pytest.fixture(scope="module")
def device_node(ray_cluster):
    """Joins a node holding ``testdevice`` to the session cluster; yields its node id (8 hex digits)."""
    import ray

    ray_bin = Path(sys.executable).with_name("ray")
    proc = subprocess.Popen([str(ray_bin), "start", "--address", ray_cluster, "--num-cpus", "0", "--resources",
                             f'{{"{RESOURCE}": 1}}', "--block", "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        (node,) = require_resource(RESOURCE, wait_s=120.0)
        head = ray.get_runtime_context().get_node_id()[:8]
        assert node != head
        yield node
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for _ in range(60):  # bounded: wait until the cluster sees the node gone
            if not any(n["Alive"] and n["NodeID"].startswith(node) for n in ray.nodes()):
                break
            time.sleep(0.5)


@pytest.mark.slow
def test_measurements_run_on_the_node_holding_the_resource(device_node):
    m = RayMeasurer(parse_device(f"ray:{RESOURCE}:cpu-ort"))
    res = m([Item(nn.Linear(8, 4), ((1, 8),)), Item(nn.Conv1d(2, 4, 3), ((1, 2, 16),))], PROTO, rounds=2)
    assert [r.node.split("@")[0] for r in res] == [device_node, device_node]
    assert all(r.median_ms > 0 for r in res) and m.fingerprint()["onnxruntime"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["measure", "model"])
def test_search_on_a_ray_device_records_the_measuring_node(device_node, ray_cluster, tmp_path, mode):
    from nas.cli import main

    cfg = dict(TINY) | {"budget": 3, "runs_dir": str(tmp_path / "runs"), "latency_cache": str(tmp_path / "cache"),
                        "latency_mode": mode, "execution": {"executor": "local", "workers": 1,
                                                            "ray_address": ray_cluster},
                        "profile": {"samples": 5, "val_samples": 0, "lut_archs": 5, "saturation": 2, "rounds": 1,
                                    "lut_rounds": 1, "protocol": {"warmup": 1, "repeats": 4},
                                    "lut_protocol": {"warmup": 1, "repeats": 3}}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    torch.set_num_threads(1)
    assert main(["search", "--config", str(path), "--device", f"ray:{RESOURCE}", "--quiet"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    df = pd.read_parquet(run / "trials.parquet")
    done = df[df["state"] == "complete"]
    assert len(done) == 3
    # every latency figure came from the device node: measured there, or predicted by a model built there
    assert {n.split("@")[0] for n in done["latency_node"]} == {device_node}
    checked = done.dropna(subset=["measured_latency_ms"])
    assert len(checked) >= 1 and {n.split("@")[0] for n in checked["measured_latency_node"]} == {device_node}
