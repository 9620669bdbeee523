"""Exports of a banked supernet: the materialised model and the compact banked model equal it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from nas.errors import ConfigError
from nas.evaluate import EvalConfig
from nas.export.pipeline import export_arch
from nas.export.templates import ExportError
from nas.profiling.measure import LatencyProtocol
from nas.train import TrainConfig, Trainer
from tests.sharing.npas_helpers import tiny_banked, tiny_cnn1d

FAST = EvalConfig(calib_batches=2, calib_batch_size=64, latency=LatencyProtocol(warmup=2, repeats=5))


@pytest.fixture(scope="module")
def trained_banked(mnist1d_task):
    net = tiny_banked(mnist1d_task, 0.25, "random", upsample="interp")
    Trainer(net, mnist1d_task, TrainConfig(epochs=1, batch_size=256, num_random=1, warmup_epochs=0), seed=0).fit()
    return net.eval()


def _import(path):
    spec = importlib.util.spec_from_file_location(f"_t_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_materialised_and_banked_exports_equal_the_supernet(trained_banked, mnist1d_task, tmp_path):
    arch = trained_banked.space.sample(np.random.default_rng(3))
    res = export_arch(trained_banked, mnist1d_task, arch, tmp_path / "e", formats="pytorch,banked", eval_config=FAST)
    v = res.verify
    assert v["equality"]["loaded_vs_supernet"] <= 1e-5
    assert v["banked"]["ok"] and v["banked"]["max_abs_diff"] <= 1e-5
    assert {"banked.py", "banked.safetensors", "model.py", "model.safetensors"} <= set(res.files)
    # the files alone (a fresh import of each loader) give the same outputs
    x = mnist1d_task.val.x[:32]
    banked = _import(tmp_path / "e" / "banked.py").load()
    plain = _import(tmp_path / "e" / "model.py").load()
    with torch.no_grad():
        assert (banked(x) - plain(x)).abs().max() <= 1e-5
    assert v["banked"]["stored_params"] == trained_banked.stored_params(arch)


def test_banked_export_of_the_max_arch_stores_the_budget(trained_banked, mnist1d_task, tmp_path):
    res = export_arch(trained_banked, mnist1d_task, trained_banked.max_arch(), tmp_path / "m", formats="pytorch,banked",
                      eval_config=FAST)
    assert res.verify["banked"]["stored_params"] == trained_banked.budget
    assert res.verify["banked"]["materialised_params"] > trained_banked.budget  # 25% budget: 4x smaller on disk


def test_banked_format_is_refused_for_plain_supernets_and_with_finetuning(trained_banked, mnist1d_task, tmp_path):
    plain = tiny_cnn1d(mnist1d_task).eval()
    with pytest.raises(ExportError, match="--sharing npas"):
        export_arch(plain, mnist1d_task, plain.max_arch(), tmp_path / "p", formats="pytorch,banked", eval_config=FAST)
    assert not (tmp_path / "p").exists()
    with pytest.raises(ConfigError, match="--format"):
        export_arch(trained_banked, mnist1d_task, trained_banked.max_arch(), tmp_path / "f", formats="banked",
                    finetune_epochs=1, eval_config=FAST)
