"""Fixtures of the export tests: a tiny real run of cnn1d (local executor) and one export of it.

The run is made by the real path (``new_run`` with the TINY config, then ``execute`` with the
local executor); only the training is replaced by the session's already trained tiny supernet
(``trained_cnn1d``), written as the run's ``supernet.safetensors`` with the manifest marked
trained, so that ``execute`` loads it instead of training for minutes on 2 shared cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, trained_cnn1d) -> tuple[Path, str]:
    """A finished tiny cnn1d run: ``(runs_dir, run_id)``."""
    from nas.checkpoint import save_checkpoint
    from nas.config import load_config
    from nas.runner import execute, new_run

    runs = tmp_path_factory.mktemp("export_runs")
    overrides = {"runs_dir": str(runs), "budget": "4", "execution.executor": "local", "name": "exp",
                 "eval.calib_batches": TINY["eval"]["calib_batches"], "eval.latency.warmup": 3,
                 "eval.latency.repeats": 10}
    store = new_run(load_config(None, overrides))
    save_checkpoint(store.file("supernet.safetensors"), trained_cnn1d.state_dict(), {"space": "cnn1d", "epochs": 2})
    store.update_manifest(trained=True)
    execute(store)
    return runs, store.run_id


@pytest.fixture(scope="session")
def exported(tiny_run, tmp_path_factory) -> Path:
    """The tiny run's most accurate trial exported as PyTorch and ONNX (through the CLI)."""
    from nas.cli import main

    runs, run_id = tiny_run
    out = tmp_path_factory.mktemp("exports") / "best"
    code = main(["export", run_id, "--runs-dir", str(runs), "--pick", "max:accuracy", "--format", "pytorch,onnx",
                 "-o", str(out)])
    assert code == 0
    return out
