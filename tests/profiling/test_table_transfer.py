"""Table-backed devices and few-shot transfer across devices."""

from __future__ import annotations

import numpy as np
import pytest

from nas.catalog import SPACES
from nas.errors import ConfigError
from nas.profiling.table_devices import TableDevice, fit_table_model
from nas.profiling.transfer import FewShotTransfer, transfer_curve


def _synthetic(rows: int = 400, seed: int = 0) -> np.ndarray:
    """Latencies on 3 devices that share a structure (two op counts) with device-specific costs."""
    rng = np.random.default_rng(seed)
    ops = rng.integers(0, 6, size=(rows, 2)).astype(float)
    costs = np.array([[1.0, 0.2], [0.5, 0.5], [2.0, 0.1]])
    return 0.5 + ops @ costs.T * (1 + 0.02 * rng.standard_normal((rows, 3)))


def test_few_shot_transfer_recovers_a_related_device_from_ten_samples():
    lat = _synthetic()
    model = FewShotTransfer().fit(lat[:10, :2], lat[:10, 2])
    mean, std = model.predict(lat[10:, :2])
    assert np.corrcoef(np.argsort(np.argsort(mean)), np.argsort(np.argsort(lat[10:, 2])))[0, 1] > 0.9
    assert np.all(std > 0)


def test_transfer_curve_reports_every_device_and_improves_with_samples():
    lat = _synthetic()
    out = transfer_curve(lat, ["a", "b", "c"], ns=(5, 50), seeds=(0, 1))
    assert set(out["per_device"]) == {"a", "b", "c"} and set(out["mean_spearman"]) == {"5", "50"}
    assert out["mean_spearman"]["50"] >= out["mean_spearman"]["5"] - 0.02


def test_transfer_rejects_non_positive_latency_and_too_few_rows():
    with pytest.raises(ConfigError, match="source_lat"):
        FewShotTransfer().fit(np.array([[1.0], [0.0], [2.0]]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ConfigError, match="at least 3"):
        FewShotTransfer().fit(np.array([[1.0], [2.0]]), np.array([1.0, 2.0]))
    with pytest.raises(ConfigError, match="`n` must"):
        transfer_curve(_synthetic(20), ["a", "b", "c"], ns=(20,), seeds=(0,))


def test_table_column_is_a_device_and_a_model_fits_from_few_rows():
    spec = SPACES.get("nb201")
    dev = TableDevice(spec, "table:fpga")
    arch = spec.build_space().sample(np.random.default_rng(0))
    r = dev.latency(arch)
    assert r.source == "table" and r.median_ms == pytest.approx(dev.latency_ms([arch])[0]) and r.median_ms > 0
    model = fit_table_model(spec, "fpga", n=20, seed=0, sources=("gold_6226", "titanxp_1"), max_eval=500)
    assert len(model.rows) == 20 and model.figures["n"] == 500 and model.figures["spearman"] > 0.5
    mean, std = model.predict([arch])
    assert mean.shape == (1,) and mean[0] > 0 and std[0] >= 0


def test_table_device_bad_input():
    spec = SPACES.get("nb201")
    with pytest.raises(ConfigError, match="`device` must be one of"):
        TableDevice(spec, "table:tpu_ms")
    with pytest.raises(ConfigError, match="table-backed"):
        TableDevice(SPACES.get("cnn1d"), "cpu")
    with pytest.raises(ConfigError, match="not include the target"):
        fit_table_model(spec, "fpga", n=10, sources=("fpga",))


def _two_kinds_of_device(rows: int = 600, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Three known devices that follow one cost profile, features, and a target that follows another."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, size=(rows, 3)).astype(float)
    cpu = np.exp(0.1 + counts @ np.array([0.4, 0.1, 0.05]) + rng.normal(0, 0.01, rows))
    known = np.stack([cpu * k * np.exp(rng.normal(0, 0.02, rows)) for k in (1.0, 2.0, 3.0)], axis=1)
    own = np.exp(counts @ np.array([0.02, 0.1, 0.5]) + rng.normal(0, 0.01, rows))
    return np.hstack([known, own[:, None]]), counts


def test_meta_transfer_weights_the_model_class_the_target_rows_support():
    from nas.profiling.transfer_meta import MetaTransfer

    lat, counts = _two_kinds_of_device()
    fit, rest = slice(0, 10), slice(10, None)
    # A device with its own cost profile: structure explains it, the known devices do not.
    own = MetaTransfer(draws=2, eval_rows=200).meta_fit(lat[:, :3], 10, counts)
    own.fit(lat[fit, :3], lat[fit, 3], counts[fit])
    assert own.weights_["structure"] > 0.9
    mean, std = own.predict(lat[rest, :3], counts[rest])
    baseline, _ = FewShotTransfer().fit(lat[fit, :3], lat[fit, 3]).predict(lat[rest, :3])
    err = np.abs(np.log(mean / lat[rest, 3])).mean()
    assert err < 0.5 * np.abs(np.log(baseline / lat[rest, 3])).mean() and np.all(std > 0)
    # A device like the known ones: the sources model carries it.
    like = MetaTransfer(draws=2, eval_rows=200).meta_fit(lat[:, :2], 10, counts)
    like.fit(lat[fit, :2], lat[fit, 2], counts[fit])
    assert like.weights_["sources"] > 0.5


def test_choice_counts_count_each_value_over_the_dims():
    from nas.profiling.transfer_meta import choice_counts
    from nas.space import Arch

    archs = [Arch((("e0", "conv"), ("e1", "conv"), ("e2", "skip"))), Arch((("e0", "none"), ("e1", "skip"), ("e2", "skip")))]
    counts = choice_counts(archs)  # columns: 'conv', 'none', 'skip'
    assert counts.tolist() == [[2, 0, 1], [0, 1, 2]]


def test_meta_transfer_rejects_misuse():
    from nas.profiling.transfer_meta import MetaTransfer

    lat, counts = _two_kinds_of_device(rows=50)
    with pytest.raises(ConfigError, match="meta-fitted"):
        MetaTransfer().fit(lat[:10, :3], lat[:10, 3])
    model = MetaTransfer(draws=1, eval_rows=20).meta_fit(lat[:, :3], 10, counts)
    with pytest.raises(ConfigError, match="features"):
        model.fit(lat[:10, :3], lat[:10, 3])
    with pytest.raises(ConfigError, match="`n` must"):
        MetaTransfer().meta_fit(lat[:, :3], 2)
