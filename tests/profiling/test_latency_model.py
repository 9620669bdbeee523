"""The latency model: correction, build, device cache, model-backed latency source."""

from __future__ import annotations

import numpy as np
import pytest

from nas.profiling.devices import parse_device
from nas.profiling.latency_model import Correction, LatencyModel, regression_figures
from nas.profiling.lut import DeviceTableError
from nas.profiling.profiler import DeviceCache, ProfileSettings, build_latency_model
from nas.profiling.sources import ModelLatency, load_or_build_model

from tests.profiling.conftest import OVERHEAD_MS


@pytest.mark.parametrize("method", ["rel_ridge", "lut_correction"])
def test_correction_learns_a_linear_gap_and_survives_json(method):
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 5.0, size=(30, 6))
    y = 0.8 * X[:, 0] + 0.1 * X[:, 1] + 0.3
    corr = Correction.fit(X[:20], y[:20], method)
    mean, std = corr.predict(X[20:])
    assert np.allclose(mean, y[20:], rtol=0.02) and np.all(std >= 0)
    again = Correction(**corr.to_dict())
    assert np.allclose(again.predict(X[20:])[0], mean)


def test_unknown_correction_method_is_refused():
    from nas.errors import ConfigError

    with pytest.raises(ValueError, match="correction.method"):
        Correction(method="magic")
    with pytest.raises(ConfigError, match="profile.method"):
        ProfileSettings(method="magic")
    with pytest.raises(ConfigError, match="profile.samples"):
        ProfileSettings(samples=2)


def test_regression_figures():
    f = regression_figures([1.0, 2.0, 3.0, 4.0], [1.05, 2.5, 2.9, 4.0])
    assert f["within_10"] == 0.75 and f["spearman"] == pytest.approx(1.0) and f["mape"] == pytest.approx((0.05 + 0.25 + 0.1 / 3) / 4)


def test_build_composes_layers_and_the_correction_absorbs_per_call_overhead(cnn1d_net, cost_measurer, tiny_settings):
    model = build_latency_model(cnn1d_net, (1, 40), parse_device("cpu-torch"), cost_measurer,
                                cost_measurer.fingerprint(), "cnn1d", tiny_settings)
    figs = model.meta["figures"]
    # the LUT sum counts one overhead per layer, the subnet only one: the bare sum is biased ...
    assert figs["lut_only_validation"]["within_10"] < 1.0
    # ... and the correction learns it exactly (the gap is linear in the features)
    assert figs["validation"]["within_10"] == 1.0 and figs["validation"]["mape"] < 0.01
    assert model.meta["node"] == "fake-node" and model.meta["layers"] == len(model.table) > 10
    from nas.profiling.cost import count_macs

    source = ModelLatency(model, cost_measurer)  # times layers of unseen configurations first
    for seed in range(3):
        arch = cnn1d_net.space.sample(np.random.default_rng(seed))
        r = source.latency(arch, cnn1d_net.export(arch))
        macs = count_macs(cnn1d_net.export(arch), (1, 40))
        assert r.median_ms == pytest.approx(OVERHEAD_MS + macs / 1e6, rel=0.02) and r.std_ms > 0


def test_cache_round_trip_and_corrupt_model_is_reported(tmp_path, cnn1d_net, cost_measurer, tiny_settings):
    profile, fp = parse_device("cpu-ort"), cost_measurer.fingerprint()
    model = build_latency_model(cnn1d_net, (1, 40), profile, cost_measurer, fp, "cnn1d", tiny_settings)
    cache = DeviceCache(tmp_path)
    path = cache.save_model(model, profile, fp, "cnn1d")
    loaded = cache.load_model(profile, fp, "cnn1d", (1, 40))
    assert isinstance(loaded, LatencyModel) and loaded.table.entries == model.table.entries
    module = cnn1d_net.export(cnn1d_net.max_arch())
    assert loaded.predict(module) == pytest.approx(model.predict(module))
    assert cache.load_model(profile, fp | {"cpu": "another"}, "cnn1d", (1, 40)) is None  # keyed by fingerprint
    path.write_text("{not json")
    with pytest.raises(DeviceTableError, match="latency model"):
        cache.load_model(profile, fp, "cnn1d", (1, 40))
    assert path.read_text() == "{not json"


def test_load_or_build_times_here_caches_and_rebuilds(tmp_path, cnn1d_net, tiny_settings):
    profile = parse_device("cpu-torch")
    model, measure, built = load_or_build_model(profile, cnn1d_net, "cnn1d", (1, 40), tmp_path, settings=tiny_settings)
    assert built and model.meta["fingerprint"]["cpu"] and model.meta["calls_measured"] > 0
    again, _, built2 = load_or_build_model(profile, cnn1d_net, "cnn1d", (1, 40), tmp_path, settings=tiny_settings)
    assert not built2 and again.table.entries == model.table.entries
    (model_file,) = tmp_path.glob("*/cnn1d-1x40.model.json")
    model_file.write_text("garbage")
    with pytest.raises(DeviceTableError):
        load_or_build_model(profile, cnn1d_net, "cnn1d", (1, 40), tmp_path, settings=tiny_settings)
    _, _, built3 = load_or_build_model(profile, cnn1d_net, "cnn1d", (1, 40), tmp_path, settings=tiny_settings,
                                       rebuild=True)
    assert built3 and list(tmp_path.glob("*/cnn1d-1x40.model.json.corrupt-*"))  # set aside, not deleted


def test_model_source_times_a_missing_layer_once(cnn1d_net, cost_measurer, tiny_settings):
    model = build_latency_model(cnn1d_net, (1, 40), parse_device("cpu-torch"), cost_measurer,
                                cost_measurer.fingerprint(), "cnn1d", tiny_settings)
    model.table.entries.clear()
    blind = ModelLatency(model, None).latency(cnn1d_net.max_arch(), cnn1d_net.export(cnn1d_net.max_arch()))
    assert blind.calls == -1 and blind.source == "model"  # says that layers were missing
    src = ModelLatency(model, cost_measurer)
    r = src.latency(cnn1d_net.max_arch(), cnn1d_net.export(cnn1d_net.max_arch()))
    assert src.misses > 0 and r.calls == 0 and r.std_ms > 0 and r.node == "fake-node"
    n = len(cost_measurer.calls)
    src.latency(cnn1d_net.max_arch(), cnn1d_net.export(cnn1d_net.max_arch()))
    assert len(cost_measurer.calls) == n  # nothing timed again


def test_recalibration_follows_a_slower_device_without_retiming_layers(cnn1d_net, cost_measurer, tiny_settings):
    model = build_latency_model(cnn1d_net, (1, 40), parse_device("cpu-torch"), cost_measurer,
                                cost_measurer.fingerprint(), "cnn1d", tiny_settings)
    rng = np.random.default_rng(4)
    archs = [cnn1d_net.space.sample(rng) for _ in range(12)]
    source = ModelLatency(model, cost_measurer)
    for a in archs:
        source.latency(a, cnn1d_net.export(a))  # every layer in the table
    entries = dict(model.table.entries)
    modules = [cnn1d_net.export(a) for a in archs]
    slower = [1.5 * source.latency(a, m).median_ms for a, m in zip(archs, modules)]  # the device got 1.5x slower
    fresh = model.recalibrated(modules[:8], slower[:8])
    assert fresh.table.entries == entries and model.correction is not fresh.correction
    for m, y in zip(modules[8:], slower[8:]):
        assert fresh.predict(m)[0] == pytest.approx(y, rel=0.03)
