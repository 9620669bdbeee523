"""Table-backed spaces: generic ``table:<csv>`` (inferred or declared columns) and ``nb201``."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from nas.catalog import SPACES
from nas.errors import ConfigError, EvaluationError
from search_spaces.nb201 import cell_string, load_nb201, nb201_path, nb201_structure, parse_cell
from search_spaces.table import Table, TableEvaluator, load_table
from tests.spaces.conftest import write_table

ROW0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def test_inferred_columns_cardinality_and_lookup(table_csv):
    table = load_table(table_csv, "toy")
    assert table.schema.choices == ("op", "width", "depth")  # row_id (unique int) is not a choice
    assert table.schema.accuracy == "val_acc_top1" and table.schema.test_accuracy == "test_acc"
    assert dict(table.schema.latency) == {"edge": "edge_ms", "server": "server_ms"}
    assert table.space.cardinality() == 48 == len(table) == len(table.archs())
    arch = table.space.make({"op": "pool", "width": 16, "depth": 3})
    m = table.lookup(arch, "server")
    assert m["accuracy"] == pytest.approx(50 + 10 + 4 + 3) and m["test_accuracy"] == pytest.approx(49 + 10 + 4 + 3)
    assert m["latency_ms"] == pytest.approx(0.05 * 48) and m["energy_mj"] == pytest.approx(0.1 * 48)
    assert table.lookup(arch, "cpu")["latency_ms"] == pytest.approx(0.5 * 48 + 2)  # cpu: first device
    with pytest.raises(ConfigError, match="`device` must be one of"):
        table.lookup(arch, "tpu")


def test_sidecar_declares_other_accuracy_and_choice_columns(table_csv):
    table_csv.with_name(table_csv.name + ".yaml").write_text(
        "choices: [op, width]\naccuracy: test_acc\ntest_accuracy: null\nlatency: {phone: energy_mj}\n")
    frame = pd.read_csv(table_csv)
    frame[frame.depth == 1].to_csv(table_csv, index=False)  # one row per (op, width)
    table = load_table(table_csv, "declared")
    assert table.space.labels == ("op", "width") and table.space.cardinality() == 12
    assert table.schema.devices == ("cpu", "phone")
    m = table.lookup(table.space.make({"op": "conv", "width": 32}), "phone")
    assert m["accuracy"] == pytest.approx(49 + 15 + 8 + 1) and "test_accuracy" not in m
    assert m["latency_ms"] == pytest.approx(3.2)


def test_generic_prefix_registers_the_space_and_its_evaluator(table_csv):
    name = f"table:{table_csv}"
    assert name in SPACES
    spec = SPACES.get(name)
    assert not spec.trainable and spec.devices == ("cpu", "edge", "server")
    assert {"accuracy", "test_accuracy", "latency_ms", "energy_mj", "edge_ms"} <= set(spec.metrics)
    space = spec.build_space()
    evaluator = spec.build_evaluator(space, spec.default_task, "edge")
    arch = space.make({"op": "none", "width": 8, "depth": 1})
    assert evaluator.evaluate(arch, seed=3) == evaluator.evaluate(arch, seed=4)
    assert evaluator.evaluate(arch, 0)["latency_ms"] == pytest.approx(4.0)
    assert SPACES.get(name) is spec  # built once, then registered under its name


def test_missing_row_is_an_evaluation_error(tmp_path):
    table = load_table(write_table(tmp_path / "part.csv", rows=40), "part")  # drops 8 rows
    missing = [a for a in table.space.enumerate() if a.to_dict()["op"] == "none" and a.to_dict()["width"] == 32]
    with pytest.raises(EvaluationError, match="must have a row"):
        TableEvaluator(table, "cpu").evaluate(missing[0], 0)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match=r"must name an existing CSV file, got '.*nope\.csv' \(not found\)"):
        SPACES.get(f"table:{tmp_path / 'nope.csv'}")


def test_missing_declared_column_names_file_and_column(table_csv):
    table_csv.with_name(table_csv.name + ".yaml").write_text("accuracy: top5_acc\n")
    with pytest.raises(ConfigError, match=r"toy\.csv.*missing \['top5_acc'\]"):
        load_table(table_csv, "toy")


def test_non_numeric_metric_names_file_column_and_value(table_csv):
    frame = pd.read_csv(table_csv)
    frame["edge_ms"] = frame["edge_ms"].astype(object)
    frame.loc[5, "edge_ms"] = "fast"
    frame.to_csv(table_csv, index=False)
    with pytest.raises(ConfigError, match=r"metric column `edge_ms` of table '.*toy\.csv' must be numeric, got 'fast' \(row 6\)"):
        load_table(table_csv, "toy")
    frame.loc[5, "edge_ms"] = ""  # an empty cell reads as NaN
    frame.to_csv(table_csv, index=False)
    with pytest.raises(ConfigError, match=r"`edge_ms` of table '.*toy\.csv' must have a number in every row.*row 6"):
        load_table(table_csv, "toy")


def test_table_without_accuracy_or_latency_or_with_duplicates_is_refused(tmp_path, table_csv):
    frame = pd.read_csv(table_csv)
    frame.drop(columns=["val_acc_top1", "test_acc"]).to_csv(tmp_path / "noacc.csv", index=False)
    with pytest.raises(ConfigError, match=r"noacc\.csv.*must declare an `accuracy` column"):
        load_table(tmp_path / "noacc.csv", "t")
    frame.drop(columns=["edge_ms", "server_ms"]).to_csv(tmp_path / "nolat.csv", index=False)
    with pytest.raises(ConfigError, match=r"nolat\.csv.*at least one latency column"):
        load_table(tmp_path / "nolat.csv", "t")
    pd.concat([frame, frame.iloc[:1]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ConfigError, match=r"dup\.csv.*one row per architecture.*row 49"):
        load_table(tmp_path / "dup.csv", "t")
    (tmp_path / "bad.csv.yaml").write_text("choices: op\n")
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ConfigError, match=r"bad\.csv\.yaml.*`choices` must be a list"):
        load_table(tmp_path / "bad.csv", "t")


def test_nb201_cardinality_lookup_and_devices():
    spec = SPACES.get("nb201")
    assert not spec.trainable and spec.devices[0] == "cpu" and "raspi4" in spec.devices
    table = load_nb201()
    assert table.space.cardinality() == 15625 == len(table)
    arch = table.space.make(parse_cell(ROW0))
    m = spec.build_evaluator(table.space, spec.default_task, "raspi4").evaluate(arch, 0)
    assert m["accuracy"] == pytest.approx(81.9827) and m["test_accuracy"] == pytest.approx(81.52)
    assert m["latency_ms"] == pytest.approx(10.48198) and m["fpga_ms"] == pytest.approx(2.57296)
    assert cell_string(arch) == ROW0


def test_nb201_structure_sees_disconnected_cells():
    disconnected = {label: "none" for label in parse_cell(ROW0)} | {"edge_1_0": "nor_conv_3x3"}
    f = nb201_structure(disconnected)
    assert f[-1] == 1.0 and f[6] == 0  # flagged, no input-output path
    f = nb201_structure(parse_cell(ROW0))
    assert f[-1] == 0.0 and f[6] == 4  # paths 0-3, 0-1-3, 0-2-3, 0-1-2-3


def test_nb201_bad_inputs_name_the_problem(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="must describe 3 nodes and 6 edges"):
        parse_cell("|none~0|+|none~0|none~1|")
    with pytest.raises(ConfigError, match="op~j"):
        parse_cell(ROW0.replace("avg_pool_3x3", "max_pool"))
    monkeypatch.setenv("SHARENAS_NB201", str(tmp_path / "missing.csv"))
    assert nb201_path() == tmp_path / "missing.csv"
    with pytest.raises(ConfigError, match=r"`SHARENAS_NB201` must name the NB201 CSV, got '.*missing\.csv'"):
        load_nb201()
    with gzip.open(Path(__file__).resolve().parents[2] / "search_spaces/data/nb201/nb201_dev.csv.gz", "rt") as fh:
        lines = [next(fh) for _ in range(4)]
    (tmp_path / "cut.csv").write_text(lines[0].replace("arch_str", "cell") + "".join(lines[1:]))
    with pytest.raises(ConfigError, match=r"cut\.csv.*must have an `arch_str` column"):
        load_nb201(tmp_path / "cut.csv")
    (tmp_path / "broken.csv").write_text(lines[0] + lines[1].replace("skip_connect~1", "skip_connect~3", 1))
    with pytest.raises(ConfigError, match=r"broken\.csv.*row 1"):
        load_nb201(tmp_path / "broken.csv")


def test_table_is_picklable_for_ray_workers(table_csv):
    import pickle

    table = load_table(table_csv, "toy")
    clone: Table = pickle.loads(pickle.dumps(TableEvaluator(table, "edge"))).table
    arch = table.archs()[7]
    assert clone.lookup(arch, "edge") == table.lookup(arch, "edge")
