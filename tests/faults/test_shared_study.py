"""Two drivers on one shared study: the budget is shared and no architecture is evaluated twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from nas.search.claims import Claims


def _config(tmp_path: Path, storage: str, ray_address: str | None = None) -> Path:
    cfg = {
        "budget": 20, "runs_dir": str(tmp_path / "runs"), "storage": storage, "study": "shared",
        "strategy": "random",
        "train": {"epochs": 1, "batch_size": 256, "num_random": 1, "warmup_epochs": 0},
        "eval": {"calib_batches": 2, "latency": {"warmup": 3, "repeats": 80}},  # evaluations long enough to overlap
        "execution": {"executor": "ray", "ray_address": ray_address, "workers": 2} if ray_address
        else {"executor": "local"},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _two_drivers(tmp_path: Path, storage: str, ray_address: str | None = None) -> list[pd.DataFrame]:
    cfg = _config(tmp_path, storage, ray_address)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "nas", "search", "--config", str(cfg), "--quiet",
                               "--name", f"driver{i}", "--seed", str(i)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-3000:]
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    frames = [pd.read_parquet(r / "trials.parquet") for r in runs]
    done = pd.concat([f[f["state"] == "complete"] for f in frames])
    assert done["arch_id"].is_unique, "an architecture was evaluated by both drivers"
    assert len(done) == 20  # the budget is the study's, shared by both drivers
    assert all(len(f) > 0 for f in frames), "both drivers evaluated something"
    study = optuna.load_study(study_name="shared", storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 20 and len({t.user_attrs["arch_id"] for t in complete}) == 20
    return frames


def test_two_drivers_share_one_sqlite_study(tmp_path):
    frames = _two_drivers(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")  # asserts no duplicates
    assert sum(len(f) for f in frames) >= 20


def test_claims_are_exclusive_and_released_after_a_kill(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    a, b = Claims(url, "s", "run-a"), Claims(url, "s", "run-b")
    assert a.claim("x", 0) and not b.claim("x", 1)
    assert b.claim("y", 2)
    a.finish("x", ok=True)
    assert a.counts() == {"done": 1, "claimed": 1}
    assert b.release_unfinished() == 1  # b was killed mid-evaluation of y
    assert a.claim("y", 3)


def test_a_claim_within_a_shared_budget_is_refused_once_the_budget_is_taken(tmp_path):
    from nas.search.claims import BudgetFull

    url = f"sqlite:///{tmp_path / 'b.db'}"
    a, b = Claims(url, "s", "run-a"), Claims(url, "s", "run-b")
    assert a.claim("x", 0, limit=2) and b.claim("y", 1, limit=2)
    with pytest.raises(BudgetFull, match="budget of 2"):
        a.claim("z", 2, limit=2)
    a.finish("x", ok=False)  # a failed evaluation gives its place back
    assert b.claim("z", 3, limit=2)


def test_two_drivers_share_one_postgresql_study_on_a_two_node_ray_cluster(tmp_path, pg_url, ray_nodes):
    node = ray_nodes.add_node(num_cpus=1, resources={"second": 1})
    try:
        frames = _two_drivers(tmp_path, pg_url, ray_address=ray_nodes.address)
    finally:
        ray_nodes.remove_node(node)
    where = pd.concat(frames)["worker"].dropna().astype(str)
    assert where.str.startswith(node.node_id[:8]).any(), "no evaluation ran on the second node"


def test_a_bad_storage_url_is_a_config_error(tmp_path, capsys):
    from nas.cli import main

    code = main(["search", "--storage", "not a url", "--runs-dir", str(tmp_path / "r")])
    assert code == 2 and "`storage` must be a SQLAlchemy URL" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_driver_that_loses_the_schema_race_retries_and_other_errors_propagate():
    from sqlalchemy.exc import OperationalError

    from nas.search.claims import _racing

    calls = []

    def lose_once():
        calls.append(1)
        if len(calls) == 1:  # SQLite's answer to the second CREATE of two drivers starting together
            raise OperationalError("CREATE TABLE study_directions", {}, Exception("table study_directions already exists"))
        return "study"

    assert _racing(lose_once) == "study" and len(calls) == 2

    def io_error():
        calls.append(1)
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    calls.clear()
    with pytest.raises(OperationalError, match="disk I/O error"):
        _racing(io_error)
    assert len(calls) == 1
