"""A banked supernet evaluated on Ray workers (pickled once to each) gives the local metrics."""

from __future__ import annotations

import numpy as np
import pytest

from nas.evaluate import EvalConfig, Evaluator
from nas.execution.base import Job
from nas.execution.ray_executor import RayExecutor
from nas.profiling.measure import LatencyProtocol
from tests.sharing.npas_helpers import tiny_banked

# Ray actors take tens of seconds to start on the loaded 2-core machine: kept out of the default run.
pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


def test_ray_workers_score_banked_subnets_like_the_local_evaluator(ray_cluster, mnist1d_task):
    net = tiny_banked(mnist1d_task, 0.25, "type").eval()
    net(mnist1d_task.val.x[:4])  # generated weights attached to the autograd graph: pickling must cope
    cfg = EvalConfig(calib_batches=1, calib_batch_size=64, latency=LatencyProtocol(warmup=2, repeats=5))
    evaluator = Evaluator(net, mnist1d_task, cfg)
    rng = np.random.default_rng(1)
    archs = [net.space.sample(rng) for _ in range(2)]
    with RayExecutor(evaluator, num_workers=1, address=ray_cluster) as ex:
        for i, a in enumerate(archs):
            ex.submit(Job(i, a, seed=i))
        outcomes = []
        for _ in range(60):  # bounded: each wait returns within its timeout
            outcomes += ex.wait(timeout=5)
            if len(outcomes) == 2:
                break
    assert len(outcomes) == 2 and all(o.ok for o in outcomes), [o.error for o in outcomes]
    for o in outcomes:
        local = evaluator.evaluate(o.job.arch, o.job.seed)
        assert o.metrics["params_stored"] == local["params_stored"] <= net.budget
        assert o.metrics["accuracy"] == pytest.approx(local["accuracy"])
