"""``nas export`` of mbconv and tinylm runs: the CLI path, and ``model.py`` loading without ShareNAS.

Each space gets a tiny real run (``new_run`` + ``execute``, local executor, 2 evaluations) whose
supernet was trained for a few steps on a slice of its task, then ``nas export`` through
:func:`nas.cli.main`. The folder's ``model.py`` is then imported in a subprocess started in the
export folder (``python -c "import model; ..."``) with the repository's packages taken off the
path (the editable-install finder removed, the repo folder dropped from ``sys.path``), and its
outputs are compared with the recorded check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SPACES_UNDER_TEST = ("mbconv", "tinylm")
OURS = ("nas", "search_spaces", "predictors", "dashboards", "benchmarks", "tests")

_SCRIPT = r"""
import importlib.util, json, os, sys
repo = os.path.realpath(sys.argv[1])
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != repo]
sys.path_importer_cache.clear()
ours = json.loads(sys.argv[2])
visible = [m for m in ours if importlib.util.find_spec(m) is not None]
import torch
import model
from safetensors.torch import load_file
net = model.load()
check = load_file("check.safetensors")
with torch.no_grad():
    err = float((net(check["inputs"]) - check["outputs"]).abs().max())
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(ours))
print(json.dumps({"err": err, "visible": visible, "loaded": loaded, "model": model.__file__}))
"""


def _tiny_run(space: str, root: Path) -> tuple[Path, str]:
    """A finished 2-evaluation run of ``space`` whose supernet saw a few training steps."""
    from nas.catalog import SPACES
    from nas.checkpoint import save_checkpoint
    from nas.config import load_config
    from nas.data import TASKS, Split
    from nas.runner import execute, new_run
    from nas.supernet.base import seeded_build
    from nas.train import TrainConfig, Trainer

    spec = SPACES.get(space)
    task_name = "digits" if space == "mbconv" else spec.default_task
    task = TASKS.get(task_name).load(0)
    small = dataclasses.replace(task, train=Split(task.train.x[:128], task.train.y[:128]))
    net = seeded_build(lambda: spec.build_supernet(spec.build_space(), small), 0)
    Trainer(net, small, TrainConfig(epochs=1, batch_size=64, num_random=1, warmup_epochs=0, threads=1), seed=0).fit()
    overrides = {"space": space, "task": task_name, "runs_dir": str(root), "budget": "2", "strategy": "random",
                 "execution.executor": "local", "name": space, "eval.calib_batches": 1, "eval.calib_batch_size": 64,
                 "eval.latency.warmup": 2, "eval.latency.repeats": 5}
    store = new_run(load_config(None, overrides))
    save_checkpoint(store.file("supernet.safetensors"), net.state_dict(), {"space": space, "epochs": 1})
    store.update_manifest(trained=True)
    execute(store)
    return root, store.run_id


@pytest.fixture(scope="module", params=SPACES_UNDER_TEST)
def cli_export(request, tmp_path_factory) -> tuple[str, Path]:
    """``(space, folder)``: the tiny run's most accurate trial exported through ``nas export``
    (PyTorch only: ONNX of these spaces is checked by ``nas bench export-check``)."""
    from nas.cli import main

    space = request.param
    runs, run_id = _tiny_run(space, tmp_path_factory.mktemp(f"runs_{space}"))
    out = tmp_path_factory.mktemp(f"export_{space}") / "model"
    code = main(["export", run_id, "--runs-dir", str(runs), "--pick", "max:accuracy", "--format", "pytorch",
                 "-o", str(out)])
    assert code == 0
    return space, out


def test_cli_export_writes_a_verified_folder(cli_export):
    space, out = cli_export
    assert {"model.py", "model.safetensors", "arch.json", "check.safetensors", "verify.json",
            "card.md"} <= {p.name for p in out.iterdir()}
    verify = json.loads((out / "verify.json").read_text())
    assert verify["equality"]["loaded_vs_supernet"] <= 1e-5
    assert json.loads((out / "arch.json").read_text())["space"] == space


def test_model_py_loads_and_matches_the_check_without_the_repo_on_the_path(cli_export):
    _, out = cli_export
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(REPO), json.dumps(OURS)], cwd=out, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["visible"] == [], "the repo's packages must not be importable in the subprocess"
    assert res["loaded"] == []
    assert Path(res["model"]).resolve() == (out / "model.py").resolve()
    assert res["err"] <= 1e-5
