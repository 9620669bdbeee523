"""`nas search --sharing npas --param-budget 0.25` end to end: search, resume after a kill in
training, export (materialised and banked), and the dashboard's view of the run."""

from __future__ import annotations

import json

import pytest
import yaml

from nas.cli import main
from nas.config import load_config
from nas.runner import Hooks, execute, load_supernet, new_run
from nas.store import RunStore
from tests.sharing.npas_helpers import TINY_SPACE, tiny_spec
from tests.sharing.kill_helpers import Killed, kill_after_first_epoch

TINY_NPAS = {
    "space": TINY_SPACE, "budget": 4, "strategy": "random", "objectives": "accuracy:max,params_stored:min",
    "train": {"epochs": 2, "batch_size": 256, "num_random": 1, "warmup_epochs": 0},
    "eval": {"calib_batches": 1, "calib_batch_size": 128, "latency": {"warmup": 2, "repeats": 5}},
    "execution": {"executor": "local", "workers": 1},
}


@pytest.fixture(autouse=True)
def _tiny_space(monkeypatch):
    """The tiny cnn1d registered for these tests only."""
    from nas.catalog import SPACES

    monkeypatch.setitem(SPACES._entries, TINY_SPACE, tiny_spec())



def test_npas_search_resumes_after_a_kill_then_exports_and_loads_in_the_dashboard(tmp_path, capsys):
    runs = tmp_path / "runs"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY_NPAS | {"runs_dir": str(runs)}))
    cfg = load_config(path, {"sharing.kind": "npas", "sharing.param_budget": 0.25})
    store = new_run(cfg)
    # killed after the learned warm-up and one epoch of supernet training
    with pytest.raises(Killed):
        execute(store, Hooks(on_epoch=kill_after_first_epoch))
    assert store.file("npas_groups.json").exists() and store.file("train_state.safetensors").exists()
    groups = store.read_json("npas_groups.json")
    assert groups["how"] == "learned" and groups["coefficients"] is not None

    assert main(["resume", store.run_id, "--runs-dir", str(runs), "--quiet"]) == 0
    # the second epoch continued from the first one's checkpoint; nothing was redone
    assert [e["epoch"] for e in store.events() if e.get("kind") == "epoch"] == [1, 2]
    assert store.read_json("npas_groups.json") == groups  # the mapping is learned once
    df = store.trials()
    done = df[df["state"] == "complete"]
    assert len(done) == 4 and (done["params_stored"] <= done["params_stored"].max()).all()
    plan = store.read_json("sharing_plan.json")
    assert plan["kind"] == "npas" and plan["meta"]["params_stored"] == plan["meta"]["budget"]
    net, _, _ = load_supernet(store)
    assert sum(p.numel() for p in net.parameters()) == plan["meta"]["budget"]

    trial = int(done["trial"].iloc[0])
    out = tmp_path / "export"
    assert main(["export", store.run_id, "--runs-dir", str(runs), "--trial", str(trial), "--format", "pytorch,banked",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "banked (generated at load) vs supernet" in printed
    assert (out / "banked.safetensors").exists() and (out / "model.py").exists()

    from dashboards.data import load_view

    view = load_view(RunStore(store.path).path)
    assert view.error == "" and len(view.completed()) == 4
    assert "params_stored" in view.trials.columns and view.sharing_plan["kind"] == "npas"


def test_nas_search_cli_with_a_type_grouped_budget_searched_as_a_dimension(tmp_path):
    runs = tmp_path / "runs"
    path = tmp_path / "c.yaml"
    sharing = {"groups": "type", "budget_choices": [0.5, 1.0]}
    path.write_text(yaml.safe_dump(TINY_NPAS | {"runs_dir": str(runs), "budget": 3, "sharing": sharing,
                                                "train": TINY_NPAS["train"] | {"epochs": 1}}))
    assert main(["search", "--config", str(path), "--sharing", "npas", "--param-budget", "0.25", "--quiet"]) == 0
    (run,) = list(runs.iterdir())
    store = RunStore(run)
    assert store.manifest()["status"] == "finished"
    assert store.read_json("npas_groups.json")["how"] == "type"
    meta = store.read_json("sharing_plan.json")["meta"]
    assert meta["budget"] == round(0.25 * meta["natural_params"]) == meta["params_stored"]
    df = store.trials()
    assert len(df) == 3 and {json.loads(a)["npas.budget"] for a in df["arch"]} <= {0.5, 1.0}
    assert (df["params_stored"] <= meta["budget"]).all()
