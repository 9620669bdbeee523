"""``--sharing gm-split`` end to end on cell1d: search (interrupted), ``nas resume``, ``nas export``,
the dashboard's view of the run, and bad split settings refused before a run folder exists."""

from __future__ import annotations

import json

import pytest
import torch

from nas.cli import main
from nas.runner import load_supernet
from nas.sharing import SharingPlan
from tests.conftest import TINY


@pytest.fixture
def gm_config(tmp_path):
    """The suite's tiny settings, one gradient batch per choice and no random subnets (speed)."""
    import yaml

    cfg = dict(TINY) | {"runs_dir": str(tmp_path / "runs"), "sharing": {"gm_batches": 1}}
    cfg["train"] = dict(TINY["train"]) | {"num_random": 0}
    path = tmp_path / "gm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_gm_split_search_resume_export_and_dashboard(gm_config, tmp_path, monkeypatch):
    import nas.runner
    from nas.store import RunStore

    record = nas.runner._StoreRecorder.record

    def record_then_stop(self, row):  # Ctrl-C right after the second evaluation is recorded
        record(self, row)
        if len(self.store.rows()) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(nas.runner._StoreRecorder, "record", record_then_stop)
    args = ["search", "--config", str(gm_config), "--space", "cell1d", "--sharing", "gm-split", "--strategy", "random",
            "--epochs", "1", "--quiet"]
    assert main(args) == 130
    monkeypatch.setattr(nas.runner._StoreRecorder, "record", record)
    (path,) = list((tmp_path / "runs").iterdir())
    store = RunStore(path)
    manifest = json.loads(store.file("manifest.json").read_text())
    assert manifest["status"] == "stopped" and len(store.rows()) == 2

    assert main(["resume", str(store.path), "--quiet"]) == 0
    manifest = json.loads(store.file("manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["spent"]["evaluations"] == 6

    splits = json.loads(store.file("gm_splits.json").read_text())
    (entry,) = splits["history"]  # one split (train.epochs 1: at epoch 0) into two sub-supernets
    assert entry["label"] in ("e01.op", "e02.op", "e12.op") and len(splits["structure"]) == 2
    plan = SharingPlan.from_dict(json.loads(store.file("sharing_plan.json").read_text()))
    assert plan.kind == "gm-split" and plan.members == ["shared", "sub0", "sub1"]
    assert plan.graph.nodes[("shared", "router")]["source"] == "routed" and not plan.validate()

    net, task, _ = load_supernet(store)  # rebuilt from gm_splits.json: the saved weights load
    assert len(net) == 2
    rows = store.rows()
    trial = int(rows[0]["trial"])
    out = tmp_path / "export"
    assert main(["export", str(store.path), "--trial", str(trial), "-o", str(out), "--format", "pytorch"]) == 0
    arch = net.space.make(json.loads((out / "arch.json").read_text())["arch"])
    verify = json.loads((out / "verify.json").read_text())
    assert verify["equality"]["ok"] and verify["equality"]["loaded_vs_supernet"] <= 1e-5  # model.py vs supernet
    x = task.val.x[:16]
    with torch.no_grad(), net.activate(arch):
        ref = net(x)
    assert torch.allclose(net.export(arch).eval()(x), ref, atol=1e-5)

    from dashboards.data import load_view

    view = load_view(store.path)
    assert not view.error and len(view.trials) == 6
    assert view.sharing_plan is not None and view.sharing_plan["kind"] == "gm-split"


@pytest.mark.parametrize("override,message", [
    ({"sharing.split_labels": ["s9.width"]}, "`sharing.split_labels` must name unconditional choices"),
    ({"sharing.split_epochs": [3]}, r"`sharing.split_epochs` must hold epochs in \[0, 1\)"),
    ({"sharing.split_rounds": 9}, r"`sharing.split_rounds` must be in \[1, 4\]"),
])
def test_bad_split_settings_exit_2_without_a_run_folder(tmp_path, override, message, capsys):
    import yaml

    cfg = {"runs_dir": str(tmp_path / "runs"), "train": {"epochs": 1},
           "sharing": {k.split(".", 1)[1]: v for k, v in override.items()}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["search", "--config", str(path), "--space", "cell1d", "--sharing", "gm-split", "--quiet"]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
