"""The cnn1d supernet: entangled slices share storage, export equals the activated subnet, training learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.catalog import SPACES
from nas.supernet.base import seeded_build
from nas.supernet.calibrate import recalibrate_bn
from nas.train import TrainConfig, Trainer


def test_active_slices_share_storage_with_the_max_weight(trained_cnn1d):
    net = trained_cnn1d
    arch = net.space.make(net.space.min_values())
    with net.activate(arch):
        conv = net.blocks[0].conv
        w = conv.active_weight()
        assert w.shape == (8, 8, 3)
        assert w.untyped_storage().data_ptr() == conv.weight.untyped_storage().data_ptr()
        with torch.no_grad():
            conv.weight[0, 0, 3] += 1.0  # centre tap of the max kernel is the centre of the k3 crop
            assert w[0, 0, 1] == conv.weight[0, 0, 3]
            conv.weight[0, 0, 3] -= 1.0


def test_export_equals_activated_supernet(trained_cnn1d, mnist1d_task):
    net = trained_cnn1d
    rng = np.random.default_rng(0)
    x = mnist1d_task.val.x[:64]
    archs = [net.max_arch(), net.min_arch()] + [net.space.sample(rng) for _ in range(6)]
    for arch in archs:
        with torch.no_grad(), net.activate(arch):
            expected = net(x)
        static = net.export(arch).eval()
        assert torch.allclose(static(x), expected, atol=1e-5), arch.short()
        n_static = sum(p.numel() for p in static.parameters())
        assert n_static < sum(p.numel() for p in net.parameters()) or arch == net.max_arch()


def test_activate_restores_previous_subnet(trained_cnn1d):
    net = trained_cnn1d
    small, big = net.min_arch(), net.max_arch()
    net.set_arch(big)
    with net.activate(small):
        assert net.active_arch == small
    assert net.active_arch == big


def test_a_few_training_steps_reduce_the_loss(mnist1d_task):
    spec = SPACES.get("cnn1d")
    net = spec.build_supernet(spec.build_space(), mnist1d_task)
    x, y = mnist1d_task.val.x, mnist1d_task.val.y

    def small_loss() -> float:  # the smallest subnet, with its own BN statistics
        static = net.export(net.min_arch())
        recalibrate_bn(static, list(mnist1d_task.train.x[:1024].split(256)))
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(static(x), y))

    before = small_loss()
    trainer = Trainer(net, mnist1d_task, TrainConfig(epochs=4, batch_size=128, num_random=1, warmup_epochs=0), seed=0)
    stats = trainer.fit()
    assert stats[-1].loss_max < stats[0].loss_max
    assert small_loss() < before  # the smallest subnet learns through in-place distillation


class _Crash(Exception):
    pass


def test_training_resumes_exactly_from_its_checkpoint(tmp_path, mnist1d_task):
    spec = SPACES.get("cnn1d")
    cfg = TrainConfig(epochs=2, batch_size=256, num_random=1, warmup_epochs=0)

    def build():
        return seeded_build(lambda: spec.build_supernet(spec.build_space(), mnist1d_task), 7)

    straight = build()
    Trainer(straight, mnist1d_task, cfg, seed=3).fit()

    ckpt = tmp_path / "train.safetensors"

    def crash(stats):
        raise _Crash  # the process "dies" right after epoch 1 was checkpointed

    with pytest.raises(_Crash):
        Trainer(build(), mnist1d_task, cfg, seed=3).fit(ckpt, on_epoch=crash)
    resumed = build()
    trainer = Trainer(resumed, mnist1d_task, cfg, seed=3)
    trainer.fit(ckpt)
    assert trainer.epoch == 2
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_bn_recalibration_uses_the_subnets_own_statistics(trained_cnn1d, mnist1d_task):
    net = trained_cnn1d
    static = net.export(net.min_arch())
    bn = static.stem.bn
    before = bn.running_mean.clone()
    n = recalibrate_bn(static, list(mnist1d_task.train.x[:512].split(128)))
    assert n == 4 and not static.training
    with torch.no_grad():
        h = static.stem.conv(mnist1d_task.train.x[:512])
    assert torch.allclose(bn.running_mean, h.mean(dim=(0, 2)), atol=1e-4)
    assert not torch.allclose(before, bn.running_mean)
