"""Timing on each backend, layer units and the layer table (store, load, corrupt file)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nas.profiling.backends import Item, measure_items
from nas.profiling.devices import parse_device
from nas.profiling.lut import DeviceTableError, LayerTable, layer_units
from nas.profiling.measure import LatencyProtocol

PROTO = LatencyProtocol(warmup=2, repeats=6)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


@pytest.mark.parametrize("device", ["cpu-torch", "cpu-ts", "cpu-ort"])
def test_every_backend_times_every_item_with_all_calls(device):
    items = [Item(_mlp(), ((1, 16),)), Item(nn.Linear(16, 8), ((2, 16),))]
    res = measure_items(items, parse_device(device), PROTO, rounds=3, seed=1)
    assert len(res) == 2
    for r in res:
        assert r.median_ms > 0 and r.iqr_ms >= 0 and np.isfinite(r.median_ms)
        assert r.calls == 3 * 2  # ceil(6 / 3) calls per round, 3 interleaved rounds


def test_a_min_device_reports_the_fastest_call(monkeypatch):
    import nas.profiling.backends as backends

    calls = iter([[9.0] * 2, [5.0, 1.0, 7.0], [3.0, 8.0, 6.0]] * 2)  # warm-up, then two rounds
    monkeypatch.setattr(backends, "_time_calls", lambda fn, n, cuda: next(calls))
    item = [Item(_mlp(), ((1, 16),))]
    proto = LatencyProtocol(warmup=2, repeats=6)
    (fast,) = measure_items(item, parse_device("cpu-torch@min"), proto, rounds=2)
    (med,) = measure_items(item, parse_device("cpu-torch"), proto, rounds=2)
    assert fast.median_ms == 1.0 and med.median_ms == 5.5 and fast.calls == med.calls == 6


def test_thread_count_is_restored_after_timing():
    before = torch.get_num_threads()
    measure_items([Item(_mlp(), ((1, 16),))], parse_device("cpu-torch@t2"), PROTO)
    assert torch.get_num_threads() == before


def test_bad_rounds_are_refused():
    from nas.errors import EvaluationError

    with pytest.raises(EvaluationError, match="`rounds` must be positive"):
        measure_items([Item(_mlp(), ((1, 16),))], parse_device("cpu-torch"), PROTO, rounds=0)


def test_layer_units_key_configuration_and_input_shape(cnn1d_net):
    space = cnn1d_net.space
    arch = cnn1d_net.max_arch()
    calls, modules = layer_units(cnn1d_net.export(arch), (1, 40))
    depth = sum(int(arch[f"s{s}.depth"]) for s in (1, 2, 3))
    assert len(calls) == depth + 3  # stem, every block, flatten, head
    assert [calls[0].path, calls[-2].path, calls[-1].path] == ["stem", "flatten", "head"]
    assert all(u.timeable and u.shapes[0][0] == 1 for u in calls)
    assert set(modules) == {u.key for u in calls}
    # the same arch exported twice gives the same keys; a different kernel changes one key only
    again, _ = layer_units(cnn1d_net.export(arch), (1, 40))
    assert [u.key for u in again] == [u.key for u in calls]
    values = arch.to_dict() | {"s1.b1.kernel": 3}
    other, _ = layer_units(cnn1d_net.export(space.make(values)), (1, 40))
    assert sum(a.key != b.key for a, b in zip(calls, other)) == 1
    # batch is part of the key
    batch4, _ = layer_units(cnn1d_net.export(arch), (1, 40), batch_size=4)
    assert not {u.key for u in batch4} & {u.key for u in calls}


def test_table_fills_only_missing_keys_and_composes(cnn1d_net, cost_measurer):
    calls, modules = layer_units(cnn1d_net.export(cnn1d_net.min_arch()), (1, 40))
    table = LayerTable()
    added = table.fill(calls, modules, cost_measurer, PROTO)
    assert added == len({u.key for u in calls}) and cost_measurer.calls == [added]
    assert table.fill(calls, modules, cost_measurer, PROTO) == 0  # nothing is timed twice
    total, absent = table.compose(calls)
    assert absent == 0 and total == pytest.approx(sum(table.ms(u.key) for u in calls))


def test_table_round_trips_and_a_corrupt_file_is_reported_untouched(tmp_path, cnn1d_net, cost_measurer):
    from nas.profiling.lut import write_json_atomic

    calls, modules = layer_units(cnn1d_net.export(cnn1d_net.max_arch()), (1, 40))
    table = LayerTable()
    table.fill(calls, modules, cost_measurer, PROTO)
    path = tmp_path / "lut.json"
    write_json_atomic(path, table.to_dict({"device": "x"}))
    loaded, meta = LayerTable.load(path)
    assert loaded.entries == table.entries and meta == {"device": "x"}
    path.write_text('{"format": 1, "meta": {}, "entr')
    with pytest.raises(DeviceTableError, match="corrupt") as e:
        LayerTable.load(path)
    assert str(path) in str(e.value)
    assert path.read_text() == '{"format": 1, "meta": {}, "entr'
    path.write_text(json.dumps({"format": 1, "meta": {}, "entries": {"k": {"ms": -1}}}))
    with pytest.raises(DeviceTableError, match="non-negative"):
        LayerTable.load(path)
