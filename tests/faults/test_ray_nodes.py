"""Ray beyond one node: nodes joining the session cluster, a whole node killed mid-evaluation,
resources that no node holds."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import ray

from nas.catalog import SPACES
from nas.execution.base import Job
from nas.execution.ray_executor import RayExecutor


@pytest.fixture(scope="module", autouse=True)
def _pickle_helpers_by_value():
    import ray.cloudpickle as cp

    from tests.core import ray_helpers

    cp.register_pickle_by_value(sys.modules[ray_helpers.__name__])
    yield


def _archs(n: int):
    space = SPACES.get("cnn1d").build_space()
    rng = np.random.default_rng(1)
    return [space.sample(rng) for _ in range(n)]


def _drain(ex: RayExecutor, expected: int, on_first=None):
    out = []
    for _ in range(400):  # bounded: each wait returns within its timeout
        got = ex.wait(timeout=2)
        out += got
        if got and on_first is not None:
            on_first()
            on_first = None
        if len(out) == expected:
            return out
    raise AssertionError(f"only {len(out)} of {expected} outcomes arrived")


def test_killing_a_whole_worker_node_reschedules_its_evaluations(ray_nodes):
    from tests.core.ray_helpers import ScriptedEvaluator

    node = ray_nodes.add_node(num_cpus=1, resources={"spare": 1})
    node_id = node.node_id[:8]
    archs = _archs(8)
    with RayExecutor(ScriptedEvaluator(delay=1.5), num_workers=3, address=ray_nodes.address) as ex:
        where = ex.workers()
        assert any(w.startswith(node_id) for w in where), f"no worker was placed on the extra node: {where}"
        for i, a in enumerate(archs):
            ex.submit(Job(i, a, seed=i))
        time.sleep(0.5)  # every worker is mid-evaluation, one of them on the extra node
        ray_nodes.remove_node(node, allow_graceful=False)
        outcomes = _drain(ex, len(archs))
    assert sorted(o.job.key for o in outcomes) == list(range(len(archs))), "an evaluation was lost"
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert any(o.attempts == 2 for o in outcomes), "the killed node's evaluation was not retried"
    assert not any(o.worker.startswith(node_id) for o in outcomes if o.attempts == 2)


def test_work_spreads_over_nodes_that_joined_the_cluster(ray_nodes):
    from tests.core.ray_helpers import ScriptedEvaluator

    node = ray_nodes.add_node(num_cpus=1, resources={"joined": 1})
    try:
        archs = _archs(6)
        with RayExecutor(ScriptedEvaluator(delay=0.3), num_workers=3, address=ray_nodes.address) as ex:
            for i, a in enumerate(archs):
                ex.submit(Job(i, a, seed=i))
            outcomes = _drain(ex, len(archs))
        nodes = {o.worker.split(":")[0] for o in outcomes}
        assert node.node_id[:8] in nodes and len(nodes) == 2
    finally:
        ray_nodes.remove_node(node)


def test_a_resource_no_node_holds_is_a_clear_error_not_a_hang(ray_nodes):
    from tests.core.ray_helpers import ScriptedEvaluator

    t0 = time.monotonic()
    ex = RayExecutor(ScriptedEvaluator(), num_workers=1, address=ray_nodes.address,
                     resources={"no_such_device": 1}, start_timeout=3)
    with pytest.raises(RuntimeError, match="no_such_device"):
        ex.start()
    assert time.monotonic() - t0 < 60
    assert ray.is_initialized()  # the session's cluster is still there
