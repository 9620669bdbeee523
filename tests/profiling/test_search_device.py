"""Searches that take latency from a device's model, and the front re-measured on the device."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from nas.cli import main
from tests.conftest import TINY

PROFILE = {"samples": 6, "val_samples": 0, "lut_archs": 10, "saturation": 4, "rounds": 1, "lut_rounds": 1,
           "protocol": {"warmup": 2, "repeats": 6}, "lut_protocol": {"warmup": 1, "repeats": 3}}


def _config(tmp_path, **extra) -> str:
    cfg = dict(TINY) | {"budget": 4, "runs_dir": str(tmp_path / "runs"), "latency_cache": str(tmp_path / "cache"),
                        "profile": PROFILE} | extra
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _run_dir(tmp_path):
    (run,) = (tmp_path / "runs").iterdir()
    return run


def _search_checks_front(tmp_path, capsys, device: str) -> pd.DataFrame:
    rc = main(["search", "--config", _config(tmp_path), "--device", device, "--constraint", "latency_ms<=50",
               "--quiet"])
    assert rc == 0
    run = _run_dir(tmp_path)
    df = pd.read_parquet(run / "trials.parquet")
    done = df[df["state"] == "complete"]
    assert len(done) == 4 and set(done["latency_source"]) == {"model"} and (done["latency_std_ms"] > 0).all()
    checked = done.dropna(subset=["measured_latency_ms"])
    assert len(checked) >= 1 and (checked["measured_latency_ms"] > 0).all()
    assert (checked["predicted_latency_ms"] == checked["latency_ms"]).all()
    assert list((run / "latency").glob("*/cnn1d-*.model.json")) and (run / "latency" / "front_check.json").exists()
    capsys.readouterr()
    assert main(["front", run.name, "--runs-dir", str(tmp_path / "runs"), "--format", "json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front and all("measured_latency_ms" in r and "predicted_latency_ms" in r for r in front)
    return checked


@pytest.mark.slow
def test_search_with_cpu_torch_model_reports_measured_and_predicted(tmp_path, capsys):
    _search_checks_front(tmp_path, capsys, "cpu-torch")


def test_evaluator_with_model_latency_and_front_check_record_both(tmp_path, trained_cnn1d, mnist1d_task,
                                                                   cost_measurer, tiny_settings):
    """The fast path of the above: model-backed evaluations, then the front re-measured into the rows."""
    from nas.evaluate import EvalConfig, Evaluator
    from nas.profiling.devices import parse_device
    from nas.profiling.profiler import build_latency_model
    from nas.profiling.search_hooks import check_front
    from nas.profiling.sources import ModelLatency
    from nas.search.objectives import parse_objectives
    from nas.store import RunStore

    model = build_latency_model(trained_cnn1d, tuple(mnist1d_task.input_shape), parse_device("cpu-torch"),
                                cost_measurer, cost_measurer.fingerprint(), "cnn1d", tiny_settings)
    source = ModelLatency(model, cost_measurer)
    evaluator = Evaluator(trained_cnn1d, mnist1d_task, EvalConfig(calib_batches=1, calib_batch_size=64,
                                                                  score_test=False), latency=source)
    store = RunStore.create(tmp_path, "r1", {"space": "cnn1d"}, {})
    archs = [trained_cnn1d.max_arch(), trained_cnn1d.min_arch()]
    for i, arch in enumerate(archs):
        metrics = evaluator.evaluate(arch, seed=i)
        assert metrics["latency_source"] == "model" and metrics["latency_node"] == "fake-node"
        store.add_row({"trial": i, "arch_id": arch.arch_id, "arch": arch.to_json(), "state": "complete",
                       "feasible": True} | metrics)
    summary = check_front(store, source, trained_cnn1d, parse_objectives("accuracy:max,latency_ms:min"),
                          protocol=PROFILE_PROTO, rounds=1)
    df = store.trials().set_index("arch_id")
    checked = df.dropna(subset=["measured_latency_ms"])
    assert summary["checked"] == len(checked) >= 1
    assert (checked["measured_latency_node"] == "fake-node").all()
    # the fake device's end-to-end time is what the corrected model predicts (within 2%)
    assert (checked["latency_error_pct"].abs() < 2).all()
    assert (checked["predicted_latency_ms"] == checked["latency_ms"]).all()
    assert (tmp_path / "r1" / "latency" / "front_check.json").exists()


@pytest.mark.slow
def test_search_with_cpu_ort_model_reports_measured_and_predicted(tmp_path, capsys):
    _search_checks_front(tmp_path, capsys, "cpu-ort")


def test_unknown_device_exits_2_before_any_run_folder(tmp_path, capsys):
    assert main(["search", "--config", _config(tmp_path), "--device", "gpu9"]) == 2
    assert "`device` must be one of" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert main(["search", "--config", _config(tmp_path), "--latency-mode", "guess"]) == 2
    assert "latency_mode" in capsys.readouterr().err
    assert main(["profile", "--space", "cnn1d", "--device", "npu"]) == 2
    assert main(["profile", "--space", "nb201", "--device", "table:tpu"]) == 2


def test_profile_command_reports_a_corrupt_device_table_and_keeps_it(tmp_path, capsys):
    args = ["profile", "--space", "cnn1d", "--device", "cpu-torch", "--samples", "5", "--val-samples", "0",
            "--cache", str(tmp_path)]
    from nas.profiling import command  # noqa: F401  (registered plugin)

    from nas.profiling.profiler import ProfileSettings

    small = ProfileSettings(samples=5, val_samples=0, lut_archs=0, saturation=0, rounds=1, lut_rounds=1,
                            protocol=PROFILE_PROTO, lut_protocol=PROFILE_PROTO)
    _build_small(tmp_path, small)
    (lut,) = tmp_path.glob("*/lut.json")
    lut.write_text("{broken")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "device table" in err and str(lut) in err and "--rebuild" in err
    assert lut.read_text() == "{broken"


def test_profile_command_on_a_table_device_prints_figures(capsys):
    assert main(["profile", "--space", "nb201", "--device", "fpga", "--samples", "10", "--transfer-from",
                 "gold_6226,titanxp_1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "table:fpga" and out["figures"]["held_out"]["spearman"] > 0.5


from nas.profiling.measure import LatencyProtocol  # noqa: E402

PROFILE_PROTO = LatencyProtocol(warmup=1, repeats=3)


def _build_small(cache_dir, settings) -> None:
    from nas.catalog import SPACES
    from nas.data import TASKS
    from nas.profiling.devices import parse_device
    from nas.profiling.sources import load_or_build_model

    spec = SPACES.get("cnn1d")
    task = TASKS.get("mnist1d").load(0)
    net = spec.build_supernet(spec.build_space(), task).eval()
    load_or_build_model(parse_device("cpu-torch"), net, "cnn1d", tuple(task.input_shape), cache_dir, settings=settings)


def test_a_run_keeps_its_latency_model_when_the_device_cache_is_gone(tmp_path, cnn1d_net, tiny_settings):
    import shutil
    from dataclasses import replace

    from nas.config import SearchConfig
    from nas.profiling.search_hooks import search_latency_source
    from nas.store import RunStore

    class _Task:
        input_shape, num_classes = (1, 40), 10

    cfg = replace(SearchConfig(device="cpu-torch", latency_cache=str(tmp_path / "cache")), profile=tiny_settings)
    store = RunStore.create(tmp_path / "runs", "r1", {}, {})
    first = search_latency_source(cfg, cnn1d_net, _Task, store)
    assert list((tmp_path / "runs" / "r1" / "latency").glob("*/cnn1d-1x40.model.json"))
    shutil.rmtree(tmp_path / "cache")
    again = search_latency_source(cfg, cnn1d_net, _Task, store)  # as on `nas resume`
    assert again.model.meta["built_at"] == first.model.meta["built_at"]
    assert not (tmp_path / "cache").exists()
    assert search_latency_source(replace(cfg, device="cpu"), cnn1d_net, _Task, store) is None  # auto: measured here
