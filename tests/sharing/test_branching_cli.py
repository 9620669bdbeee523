"""`nas search --task mnist1d-multi --sharing branching` end to end: learned tree, search, resume
after a kill in training, export equal to the supernet, and the dashboard's view of the run."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest
import yaml

from nas.cli import main
from nas.config import load_config
from nas.data import TASKS, Split, TaskSpec
from nas.runner import Hooks, execute, load_supernet, new_run
from nas.sharing import SharingPlan
from nas.sharing.tree import StaticTree, Tree
from tests.sharing.kill_helpers import Killed, kill_after_first_epoch

TINY_SPACE = "cnn1d-branching-test"
TINY_BRANCHING = {
    "space": TINY_SPACE, "task": "mnist1d-multi", "budget": 4, "strategy": "random",
    "train": {"epochs": 2, "batch_size": 256, "num_random": 1, "warmup_epochs": 0, "threads": 1},
    "eval": {"calib_batches": 1, "calib_batch_size": 128, "score_test": False, "latency": {"warmup": 2, "repeats": 5}},
    "execution": {"executor": "local", "workers": 1},
    "sharing": {"kind": "branching", "warmup_epochs": 1, "tree_epochs": 1, "tree_width": 8},
}


def _small_multi(seed: int):
    from search_spaces.multitask_tasks import load_mnist1d_multi

    task = load_mnist1d_multi(seed)
    return dataclasses.replace(task, train=Split(task.train.x[:768], task.train.y[:768]),
                               val=Split(task.val.x[:200], task.val.y[:200]))


@pytest.fixture(autouse=True)
def _tiny(monkeypatch):
    """A narrow cnn1d (widths 4/8, kernels 3/5) and a 768-sample mnist1d-multi, for these tests only."""
    from nas.catalog import SPACES
    from search_spaces.cnn1d import build_cnn1d_space

    spec = SPACES.get("cnn1d")
    tiny = dataclasses.replace(spec, name=TINY_SPACE, build_space=functools.partial(
        build_cnn1d_space, widths=(4, 8), kernels=(3, 5), name=TINY_SPACE))
    monkeypatch.setitem(SPACES._entries, TINY_SPACE, tiny)
    old = TASKS.get("mnist1d-multi")
    monkeypatch.setitem(TASKS._entries, "mnist1d-multi", TaskSpec(old.name, _small_multi, old.description, old.heads))



def test_branching_search_resumes_exports_and_loads_in_the_dashboard(tmp_path, capsys):
    runs = tmp_path / "runs"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY_BRANCHING | {"runs_dir": str(runs)}))
    store = new_run(load_config(path))
    with pytest.raises(Killed):  # killed after the learned tree and one epoch of supernet training
        execute(store, Hooks(on_epoch=kill_after_first_epoch))
    learned = store.read_json("branching_tree.json")
    tree = Tree.from_dict(learned["tree"])
    assert tree.problems() == [] and tree.tasks == ("digit", "parity", "big", "family")
    assert [h["learning"] for h in learned["history"]] == [0.0, 1.0]

    assert main(["resume", store.run_id, "--runs-dir", str(runs), "--quiet"]) == 0
    assert [e["epoch"] for e in store.events() if e.get("kind") == "epoch"] == [1, 2]
    assert store.read_json("branching_tree.json") == learned  # the tree is learned once
    done = store.trials()
    done = done[done["state"] == "complete"]
    assert len(done) == 4
    for head in tree.tasks:
        assert done[f"acc_{head}"].between(0, 100).all()
    mean = done[[f"acc_{h}" for h in tree.tasks]].mean(axis=1)
    assert (abs(done["accuracy"] - mean) < 1e-9).all()

    plan = SharingPlan.from_dict(store.read_json("sharing_plan.json"))
    assert plan.kind == "branching" and plan.validate() == [] and Tree.from_dict(plan.meta["tree"]) == tree
    assert {m for m, s in plan.graph.nodes if s == "head"} == set(tree.tasks)

    trial = int(done["trial"].iloc[0])
    assert main(["export", store.run_id, "--trial", str(trial), "--runs-dir", str(runs), "--format", "pytorch"]) == 0
    verify = json.loads((store.path / "exports" / f"trial-{trial}" / "verify.json").read_text())
    assert verify["equality"]["ok"] and verify["equality"]["loaded_vs_supernet"] <= 1e-5
    net, _, _ = load_supernet(store)
    assert isinstance(net.export(net.max_arch()), StaticTree)
    from nas.cli_display import front_table

    choices = front_table(store)["choices"]  # described in the derived space: per layer "w/k" of each node
    assert len(choices) > 0 and choices.str.contains("|", regex=False).all()

    from dashboards.archview import _plan_info
    from dashboards.data import load_view

    view = load_view(store.path)
    assert len(view.trials) == 4 and "acc_digit" in view.trials.columns and not view.front.empty
    assert view.sharing_plan is not None and _plan_info(view.sharing_plan).nodes


def test_branching_refuses_a_single_task_run_before_creating_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY_BRANCHING | {"task": "mnist1d", "runs_dir": str(tmp_path / "runs")}))
    assert main(["search", "--config", str(path), "--quiet"]) == 2
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
