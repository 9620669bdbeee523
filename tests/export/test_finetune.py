"""Fine-tuning the exported model: recorded before/after, never worse on validation, files consistent."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from nas.export import load_export


def _finetuned(tiny_run, tmp_path, epochs: int):
    runs, run_id = tiny_run
    out = tmp_path / "ft"
    assert main(["export", run_id, "--runs-dir", str(runs), "--pick", "max:accuracy", "--format", "pytorch",
                 "--finetune-epochs", str(epochs), "-o", str(out)]) == 0
    return out, json.loads((out / "verify.json").read_text())["finetune"]


def test_finetune_records_both_figures_and_keeps_the_best_validation_epoch(tiny_run, tmp_path):
    out, ft = _finetuned(tiny_run, tmp_path, 1)
    assert ft["epochs"] == 1 and len(ft["val_per_epoch"]) == 1
    assert ft["val_after"] == max([ft["val_before"], *ft["val_per_epoch"]])
    assert ft["kept_epoch"] in (0, 1)
    card = (out / "card.md").read_text()
    assert f"| test | {ft['test_before']:.2f} | {ft['test_after']:.2f} |" in card
    loaded = load_export(out)
    assert loaded.recheck() <= 1e-5  # check.safetensors holds the fine-tuned model's outputs


@pytest.mark.slow
def test_three_epochs_of_finetuning_keep_or_improve_test_accuracy(tiny_run, tmp_path):
    _, ft = _finetuned(tiny_run, tmp_path, 3)
    assert ft["test_after"] >= ft["test_before"]


def test_sequence_models_fine_tune_per_position():
    """tinylm logits are ``(B, vocab, T)`` against ``(B, T)`` targets: fine-tuning must train on them."""
    import dataclasses

    import numpy as np

    from nas.catalog import SPACES
    from nas.data import TASKS, Split
    from nas.export.finetune import FinetuneConfig, finetune
    from nas.supernet.base import seeded_build

    spec = SPACES.get("tinylm")
    task = TASKS.get(spec.default_task).load(0)
    cut = lambda s, n: Split(s.x[:n], s.y[:n])  # noqa: E731
    task = dataclasses.replace(task, train=cut(task.train, 256), val=cut(task.val, 64), test=cut(task.test, 64))
    space = spec.build_space()
    net = seeded_build(lambda: spec.build_supernet(space, task), 0)
    static = net.export(space.sample(np.random.default_rng(0))).eval()
    report = finetune(static, task, FinetuneConfig(epochs=2, lr=1e-2, batch_size=32, seed=0))
    assert len(report.val_per_epoch) == 2
    assert report.val_after > report.val_before + 5.0  # an untrained char-LM is near chance (about 1%)
