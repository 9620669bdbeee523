"""The ranking benchmark's jobs: per-arch initialisation, seeded stand-alone trainings, the worker pool,
and the acceptance and noise-ceiling bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.ranking import _load_task, _meets, fidelity, resize_task
from benchmarks.ranking_jobs import Variant, reset_init, run_jobs, standalone_job
from nas.errors import ConfigError
from nas.supernet.base import seeded_build
from nas.train import TrainConfig


@pytest.fixture(scope="module")
def narrow(mnist1d_task):
    """A cnn1d variant, its smallest arch's exported module and a small task."""
    space, build, _ = Variant("cnn1d", widths=(2, 4, 16), depths=(1, 2), kernels=(3, 7)).build()
    net = seeded_build(lambda: build(space, mnist1d_task), 0)
    return net, net.min_arch(), resize_task(mnist1d_task, 256, 300)


def test_reset_init_gives_each_layer_its_own_default_scale(narrow):
    net, arch, _ = narrow
    sliced = net.export(net.max_arch())
    fresh = reset_init(net.export(net.max_arch()), seed=3)
    for name, conv in fresh.named_modules():
        if isinstance(conv, torch.nn.Conv1d) and conv.weight.numel() >= 500:
            own = 1 / np.sqrt(3 * conv.in_channels * conv.kernel_size[0])  # std of torch's default init
            before = float(sliced.get_submodule(name).weight.detach().std())
            assert abs(float(conv.weight.detach().std()) / own - 1) < 0.15 and abs(before / own - 1) > 0.5, name
    assert all(float(m.weight.detach().min()) == 1.0 for m in fresh.modules() if isinstance(m, torch.nn.BatchNorm1d))
    again = reset_init(net.export(net.max_arch()), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), again.state_dict().values()))
    other = reset_init(net.export(arch), seed=4)
    assert not torch.equal(other.stem.conv.weight, reset_init(net.export(arch), seed=3).stem.conv.weight)


def test_standalone_job_is_seeded_and_checks_its_init(narrow):
    net, arch, task = narrow
    cfg = TrainConfig(epochs=1, batch_size=64, warmup_epochs=0, num_random=0, distill=False)
    a = standalone_job(net.export(arch), task, cfg, seed=1, init="reset", init_seed=2)
    b = standalone_job(net.export(arch), task, cfg, seed=1, init="reset", init_seed=2)
    assert a[0] == b[0] and 0.0 <= a[0] <= 100.0 and a[1] > 0
    with pytest.raises(ConfigError, match="`standalone_init` must be one of"):
        standalone_job(net.export(arch), task, cfg, seed=1, init="xavier", init_seed=2)


@pytest.mark.slow  # two spawned interpreters import torch: slow on a loaded 2-core machine
def test_worker_processes_give_the_in_process_results(narrow):
    net, arch, task = narrow
    cfg = TrainConfig(epochs=1, batch_size=128, warmup_epochs=0, num_random=0, distill=False)
    jobs = [(standalone_job, (net.export(a), task, cfg, s, "reset", s + 7)) for a, s in ((arch, 1), (net.max_arch(), 2))]
    seen: list[int] = []
    pooled = run_jobs(jobs, workers=2, on_done=lambda i, r: seen.append(i))
    local = run_jobs(jobs, workers=1)
    assert [r[0] for r in pooled] == [r[0] for r in local] and sorted(seen) == [0, 1]
    with pytest.raises(ConfigError, match="`workers` must be >= 1, got 0"):
        run_jobs(jobs, workers=0)


def test_task_samples_only_for_mnist1d():
    with pytest.raises(ConfigError, match="`task_samples` must be 0 for tasks other than mnist1d"):
        _load_task("digits", 0, 2000)
    with pytest.raises(ConfigError, match="`task_samples` must be >= 1000"):
        _load_task("mnist1d", 0, 500)


def test_split_half_ceiling_and_acceptance_checks():
    rng = np.random.default_rng(0)
    truth = np.linspace(40, 90, 12)
    sa = truth + rng.normal(0, 4, size=(4, 12))
    fid = fidelity(sa, {"s0": list(truth), "s1": list(truth[::-1])}, macs=list(truth), params=list(truth))
    halves = fidelity(sa[:2], {"s0": list(truth)}, list(truth), list(truth))
    from predictors.metrics import kendall_tau

    assert fid["noise_ceiling_split_half_tau"] == pytest.approx(kendall_tau(sa[:2].mean(0), sa[2:].mean(0)))
    assert len(fid["noise_ceiling_pairs"]) == 6 and halves["noise_ceiling_split_half_tau"] is None
    gaps = sa.max(0) - sa.min(0)
    assert fid["standalone_seed_gap_points"] == {"mean": pytest.approx(gaps.mean()), "max": pytest.approx(gaps.max())}
    meets = _meets(fid, target_tau=0.8)
    assert meets["spread_at_least_10_points"] and not meets["tau_at_least_target"] and not meets["all"]
    assert _meets(halves, 0.8)["tau_at_least_target"] == (halves["summary"]["kendall_tau"]["mean"] >= 0.8)
