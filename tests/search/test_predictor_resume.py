"""``nas search --strategy predictor`` on cnn1d with Ray workers, SIGKILLed, then resumed where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from nas.cli import main
from nas.store import RunStore
from tests.conftest import TINY

BUDGET, KILL_AFTER = 16, 12  # the initial population is 10: the kill lands in a predictor round


def _rows(runs: Path) -> tuple[Path | None, int]:
    for run in runs.iterdir() if runs.exists() else []:
        try:
            return run, len(RunStore(run).trials()) if (run / "manifest.json").exists() else 0
        except Exception:  # noqa: BLE001 - mid-replace on some filesystems; poll again
            return run, 0
    return None, 0


def _next_archs(state: dict, run: Path, n: int) -> list[str]:
    """What the checkpointed strategy proposes next, asked of a copy of the study as it was at the kill."""
    from nas.catalog import SPACES
    from nas.search import PredictorStrategy
    from nas.search.objectives import parse_objectives

    copy = optuna.create_study(directions=["maximize", "minimize"])
    for t in optuna.load_study(study_name="sharenas", storage=f"sqlite:///{run / 'study.db'}").trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            copy.add_trial(t)
    strategy = PredictorStrategy(0)  # settings as registered; seed and generator come from the state
    strategy.bind(copy, SPACES.get("cnn1d").build_space(), parse_objectives("accuracy:max,latency_ms:min"), ())
    strategy.load_state_dict(state)
    return [p.arch.arch_id for p in strategy.ask(n)]


@pytest.mark.slow  # about 40 s of CPU: training, Ray start-up and inner NSGA-II rounds
def test_predictor_search_on_ray_is_killed_and_resumed_exactly_where_it_stopped(ray_cluster, tmp_path):
    runs = tmp_path / "runs"
    cfg = TINY | {"budget": BUDGET, "runs_dir": str(runs), "strategy": "predictor",
                  "eval": {"calib_batches": 2, "latency": {"warmup": 20, "repeats": 200}},
                  "execution": {"executor": "ray", "workers": 1, "ray_address": ray_cluster}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "nas", "search", "--config", str(path), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ | {"OMP_NUM_THREADS": "1"})
    run, n = None, 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and n < KILL_AFTER and proc.poll() is None:
        time.sleep(0.05)
        run, n = _rows(runs)
    assert proc.poll() is None, f"search ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert run is not None and KILL_AFTER <= n < BUDGET
    killed = RunStore(run).trials()
    state = json.loads((run / "strategy.json").read_text())["state"]
    done_at_kill = set(killed.loc[killed["state"] == "complete", "arch_id"])
    consistent = len(state["data"]["trials"]) == len(done_at_kill)
    queued = len(state["outstanding"]) + len(state["pending"])  # asked without planning a new round
    expected = _next_archs(state, run, max(1, min(queued, BUDGET - len(done_at_kill)))) if consistent else []

    assert main(["resume", run.name, "--runs-dir", str(runs), "--quiet"]) == 0

    store = RunStore(run)
    df = store.trials()
    done = df[df["state"] == "complete"]
    assert len(done) == BUDGET and done["arch_id"].nunique() == BUDGET
    before = killed.set_index("trial")
    after = df.set_index("trial").loc[before.index]
    assert (after["arch_id"] == before["arch_id"]).all() and (after["accuracy"] == before["accuracy"]).all()
    assert store.manifest()["status"] == "finished" and store.manifest()["spent"]["evaluations"] == BUDGET
    # The checkpoint at the kill says what comes next; the resumed run proposes exactly that first
    # (unless the kill fell between recording a row and checkpointing, when the state lags one row).
    if consistent:
        resumed = [a for a in df.sort_values("trial")["arch_id"] if a not in done_at_kill]
        assert expected and resumed[: len(expected)] == expected
    final = json.loads((run / "strategy.json").read_text())["state"]
    assert final["seed"] == state["seed"] and final["round"] > state["round"]
