"""Shared fixtures: one Ray cluster for the whole test run, tiny configs, a trained tiny supernet."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml

import search_spaces  # noqa: F401  (registers the built-in spaces and tasks)

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]

# A config small enough for tests: 1 epoch, short latency protocol, local executor.
TINY = {
    "budget": 6,
    "train": {"epochs": 1, "batch_size": 256, "num_random": 1, "warmup_epochs": 0},
    "eval": {"calib_batches": 2, "calib_batch_size": 128, "latency": {"warmup": 3, "repeats": 10}},
    "execution": {"executor": "local", "workers": 1},
}


@pytest.fixture(scope="session")
def ray_nodes():
    """One local Ray cluster for the whole session: a head node with 2 CPUs and a short temp dir,
    this process connected as its driver. Yields the ``ray.cluster_utils.Cluster``, so that tests
    can add nodes (``add_node(num_cpus=1, resources={...})``) and kill them (``remove_node``)."""
    import ray
    from ray.cluster_utils import Cluster

    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    os.makedirs(os.path.join(tmp, "ray"))
    os.environ["RAY_TMPDIR"] = tmp  # the cluster's address file goes here, not into /tmp/ray
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "temp_dir": os.path.join(tmp, "ray"), "include_dashboard": False,
        "object_store_memory": 300 * 1024 * 1024})
    ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session")
def ray_cluster(ray_nodes):
    """The session's Ray cluster (see ``ray_nodes``); yields its GCS address."""
    return ray_nodes.address


@pytest.fixture(scope="session")
def pg_url():
    """A SQLAlchemy URL of a real PostgreSQL database: ``$SHARENAS_PG_URL``, or a throw-away server
    started from the installed binaries (``make test`` installs them). Skips, saying why, only when
    no server can be had."""
    if os.environ.get("SHARENAS_PG_URL"):
        yield os.environ["SHARENAS_PG_URL"]
        return
    from nas.testing import start_server

    try:
        server = start_server()
    except RuntimeError as e:
        pytest.skip(str(e))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """Path of a YAML config with the tiny settings and a runs dir inside ``tmp_path``."""
    cfg = dict(TINY) | {"runs_dir": str(tmp_path / "runs")}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread per process: the suite runs on 2 cores beside Ray workers."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist1d_task():
    """The MNIST-1D task with a 1,024-sample training split (generated once, cached)."""
    from dataclasses import replace

    from nas.data import TASKS, Split

    task = TASKS.get("mnist1d").load(0)
    return replace(task, train=Split(task.train.x[:1024], task.train.y[:1024]))


@pytest.fixture(scope="session")
def trained_cnn1d(mnist1d_task):
    """A cnn1d supernet trained for one short epoch (shared, read-only in tests)."""
    from nas.catalog import SPACES
    from nas.train import TrainConfig, Trainer

    spec = SPACES.get("cnn1d")
    net = spec.build_supernet(spec.build_space(), mnist1d_task)
    Trainer(net, mnist1d_task, TrainConfig(epochs=2, batch_size=128, num_random=1, warmup_epochs=0), seed=0).fit()
    return net.eval()
