"""Ray workers: real cluster (one per test session), retries when a worker dies, end-to-end search."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nas.catalog import SPACES
from nas.execution.base import Job
from nas.execution.ray_executor import RayExecutor

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture(scope="module", autouse=True)
def _pickle_helpers_by_value():
    import ray.cloudpickle as cp

    from tests.core import ray_helpers

    cp.register_pickle_by_value(sys.modules[ray_helpers.__name__])
    yield


def _archs(n: int):
    space = SPACES.get("cnn1d").build_space()
    rng = np.random.default_rng(0)
    return [space.sample(rng) for _ in range(n)]


def _drain(ex: RayExecutor, expected: int):
    out = []
    for _ in range(200):  # bounded: each wait returns within its timeout
        out += ex.wait(timeout=5)
        if len(out) == expected:
            return out
    raise AssertionError(f"only {len(out)} of {expected} outcomes arrived")


def test_jobs_spread_over_workers_that_got_the_evaluator_once(ray_cluster):
    from tests.core.ray_helpers import ScriptedEvaluator

    archs = _archs(6)
    with RayExecutor(ScriptedEvaluator(delay=0.2), num_workers=2, address=ray_cluster) as ex:
        for i, a in enumerate(archs):
            ex.submit(Job(i, a, seed=i))
        outcomes = _drain(ex, 6)
    assert all(o.ok and o.attempts == 1 for o in outcomes)
    assert len({o.worker for o in outcomes}) == 2
    assert sorted(o.job.key for o in outcomes) == list(range(6))


def test_a_worker_death_is_retried_once_on_a_fresh_worker(ray_cluster, tmp_path):
    from tests.core.ray_helpers import ScriptedEvaluator

    a, b = _archs(2)
    ev = ScriptedEvaluator(die_once={a.arch_id}, die_once_dir=str(tmp_path))
    with RayExecutor(ev, num_workers=1, address=ray_cluster) as ex:
        ex.submit(Job(0, a, 0))
        ex.submit(Job(1, b, 1))
        outcomes = {o.job.key: o for o in _drain(ex, 2)}
    assert outcomes[0].ok and outcomes[0].attempts == 2
    assert outcomes[1].ok and outcomes[1].attempts == 1


def test_a_second_death_fails_the_job_with_a_reason_and_others_go_on(ray_cluster):
    from tests.core.ray_helpers import ScriptedEvaluator

    a, b = _archs(2)
    with RayExecutor(ScriptedEvaluator(die_always={a.arch_id}), num_workers=1, address=ray_cluster) as ex:
        ex.submit(Job(0, a, 0))
        ex.submit(Job(1, b, 1))
        outcomes = {o.job.key: o for o in _drain(ex, 2)}
    assert not outcomes[0].ok and outcomes[0].attempts == 2
    assert "worker died twice" in outcomes[0].error
    assert outcomes[1].ok


def test_search_end_to_end_on_ray_workers(ray_cluster, tiny_config, tmp_path):
    from nas.cli import main
    from nas.store import RunStore

    code = main(["search", "--config", str(tiny_config), "--executor", "ray", "--workers", "2",
                 "--ray-address", ray_cluster, "--budget", "8", "--quiet"])
    assert code == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    store = RunStore(run_dir)
    df = store.trials()
    assert len(df) == 8 and df["arch_id"].nunique() == 8 and (df["state"] == "complete").all()
    assert df["worker"].nunique() == 2
    for name in ("config.yaml", "study.db", "trials.parquet", "front.json", "supernet.safetensors",
                 "events.jsonl", "manifest.json"):
        assert store.file(name).is_file(), name
    m = store.manifest()
    assert m["status"] == "finished" and m["spent"]["evaluations"] == 8
    assert store.read_json("front.json")["front"]
