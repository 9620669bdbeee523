"""End to end: ``nas search`` on the new spaces completes with a front (slow: trains a supernet)."""

from __future__ import annotations

import json

import pytest

from nas.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("space,task,objectives", [
    ("mbconv", "digits", "accuracy:max,latency_ms:min"),
    ("tinylm", "pydoc-text", "bpc:min,latency_ms:min"),
])
def test_search_completes_with_a_front(tmp_path, space, task, objectives):
    runs = tmp_path / "runs"
    code = main(["search", "--space", space, "--task", task, "--budget", "4", "--epochs", "1", "--objectives", objectives,
                 "--executor", "local", "--runs-dir", str(runs), "--quiet"])
    assert code == 0
    (run,) = list(runs.iterdir())
    front = json.loads((run / "front.json").read_text())
    assert front["objectives"] == objectives.split(",") and len(front["front"]) >= 1
    metric = objectives.split(":")[0]
    assert all(row[metric] > 0 for row in front["front"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["spent"]["evaluations"] == 4
