"""`nas search --sharing ensemble` end to end: a kill in training, `nas resume`, the shrunk space
kept, `nas front`, `nas export` (trunk once, equal to the supernet) and the dashboard's view."""

from __future__ import annotations

import json

import pytest
import yaml

from nas.cli import main
from nas.config import load_config
from nas.runner import Hooks, execute, load_supernet, new_run
from nas.store import RunStore
from tests.sharing.ensemble_helpers import register_tiny
from tests.sharing.kill_helpers import Killed, kill_after_first_epoch

TINY_ENSEMBLE = {
    "budget": 4, "strategy": "random", "seed": 0,
    "train": {"epochs": 2, "batch_size": 256, "num_random": 1, "warmup_epochs": 0},
    "eval": {"calib_batches": 1, "calib_batch_size": 128, "latency": {"warmup": 2, "repeats": 5}},
    "execution": {"executor": "local", "workers": 1},
    "sharing": {"kind": "ensemble", "members": 2, "shrink": True},
}



def test_ensemble_search_resumes_exports_and_loads_in_the_dashboard(tmp_path, monkeypatch, capsys):
    space = register_tiny(monkeypatch)
    runs = tmp_path / "runs"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY_ENSEMBLE | {"space": space, "runs_dir": str(runs)}))
    store = new_run(load_config(path, {}))
    with pytest.raises(Killed):
        execute(store, Hooks(on_epoch=kill_after_first_epoch))
    shrunk = store.read_json("ensemble_space.json")  # the shrink of epoch 1 is stored with the run
    assert shrunk["history"][0]["epoch"] == 1 and shrunk["history"][0]["removed"]
    assert store.file("train_state.safetensors").exists()

    assert main(["resume", store.run_id, "--runs-dir", str(runs), "--quiet"]) == 0
    events = store.events()
    assert [e["epoch"] for e in events if e.get("kind") == "epoch"] == [1, 2]
    assert sum(1 for e in events if e.get("stage") == "shrink") == 1  # not redone on resume
    options = {k: tuple(v) for k, v in shrunk["options"].items()}
    done = store.trials()
    done = done[done["state"] == "complete"]
    assert len(done) == 4
    for arch in done["arch"]:
        values = json.loads(arch)
        for label, v in values.items():
            if label not in ("members", "split"):
                assert v in options[label.split(".", 1)[1] if label.startswith("m") else label], (label, v)
    net, _, _ = load_supernet(store)
    assert net.space.choice("m0.s1.width").options == options["s1.width"]
    plan = store.read_json("sharing_plan.json")
    assert plan["kind"] == "ensemble" and {n["member"] for n in plan["nodes"]} == {"shared", "m0", "m1"}

    assert main(["front", store.run_id, "--runs-dir", str(runs)]) == 0
    def size(i: int) -> tuple[int, int]:  # the biggest ensemble with the deepest trunk
        values = json.loads(done["arch"].iloc[i])
        return int(values["members"]), int(values.get("split", 0))

    row = done.iloc[max(range(len(done)), key=size)]
    assert size(max(range(len(done)), key=size))[0] == 2
    out = tmp_path / "export"
    assert main(["export", store.run_id, "--runs-dir", str(runs), "--trial", str(int(row["trial"])),
                 "--format", "pytorch", "-o", str(out)]) == 0
    source = (out / "model.py").read_text()
    assert "class StaticEnsemble" in source
    verify = json.loads((out / "verify.json").read_text())
    equality = next(v for v in verify.values() if isinstance(v, dict) and "loaded_vs_supernet" in v)
    assert equality["loaded_vs_supernet"] <= 1e-5
    from nas.export.loader import import_model_source  # the written files, not the objects
    from nas.profiling.cost import count_params

    model = import_model_source(out / "model.py").load()
    assert count_params(model) == int(row["params"])  # the trunk's tensors counted (and stored) once

    from dashboards.data import load_view

    view = load_view(RunStore(store.path).path)
    assert view.error == "" and len(view.completed()) == 4
    assert view.sharing_plan["kind"] == "ensemble"
