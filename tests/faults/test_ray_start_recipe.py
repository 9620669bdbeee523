"""The README's multi-node recipe, literally: `ray start --head`, two more nodes with `ray start
--address` (one holding a device resource), then `nas search --ray-address`. Slow (three raylets
and a driver subprocess); CI covers the same paths with the session cluster's extra nodes."""

from __future__ import annotations

import os
import signal
import time
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_nodes(temp_dir: str) -> None:
    """Kills only the Ray processes of this cluster (``ray stop`` would kill every cluster here)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if temp_dir in cmd:
                pids.append(int(entry.name))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(1)


@pytest.fixture
def three_nodes():
    tmp = tempfile.mkdtemp(prefix="rs", dir="/tmp")
    port = _free_port()
    # Ray >= 2.59 turns token authentication on for `ray start --head`; every node and the driver
    # must then use it too (on one machine they share the token file ~/.ray/auth_token).
    env = os.environ | {"RAY_TMPDIR": tmp, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    address = f"127.0.0.1:{port}"
    cmds = [
        [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
         "--temp-dir", tmp, "--include-dashboard", "false", "--disable-usage-stats"],
        [RAY, "start", "--address", address, "--num-cpus", "1"],
        [RAY, "start", "--address", address, "--num-cpus", "1", "--resources", '{"testdevice": 1}'],
    ]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, env=env)
        yield address, env
    finally:
        _stop_nodes(tmp)


def test_readme_recipe_search_on_a_three_node_cluster(three_nodes, tmp_path):
    address, env = three_nodes
    cfg = {
        "budget": 10, "strategy": "random", "runs_dir": str(tmp_path / "runs"),
        "train": {"epochs": 1, "batch_size": 256, "num_random": 1, "warmup_epochs": 0},
        "eval": {"calib_batches": 2, "latency": {"warmup": 3, "repeats": 20}},
        "execution": {"executor": "ray", "workers": 3},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "nas", "search", "--config", str(path), "--quiet",
                           "--ray-address", address], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list((tmp_path / "runs").iterdir())
    df = pd.read_parquet(run / "trials.parquet")
    done = df[df["state"] == "complete"]
    assert len(done) == 10 and done["arch_id"].is_unique
    nodes = {str(w).split(":")[0] for w in done["worker"]}
    assert len(nodes) == 3, f"evaluations did not spread over the three nodes: {nodes}"
