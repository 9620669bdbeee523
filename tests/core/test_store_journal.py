"""The trial journal: rows appended to trials.jsonl, trials.parquet materialised, readers see both."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from nas import store as store_module
from nas.errors import RunStoreError
from nas.store import RunStore


def _row(i: int, **extra) -> dict:
    return {"trial": i, "arch_id": f"a{i}", "state": "complete", "accuracy": 50.0 + i, "feasible": True} | extra


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore.create(tmp_path, "r", {"space": "toy"}, {})


def test_rows_are_journalled_and_the_table_is_written_when_the_writer_ends(store) -> None:
    store.lock()
    for i in range(3):
        store.add_row(_row(i))
    assert not store.file("trials.parquet").exists()  # nothing rewritten per row
    assert len(store.file("trials.jsonl").read_text().splitlines()) == 3
    reader = RunStore(store.path).trials()
    assert list(reader["arch_id"]) == ["a0", "a1", "a2"] and reader["feasible"].dtype == bool
    store.unlock()
    table = pd.read_parquet(store.file("trials.parquet"))
    assert list(table["trial"]) == [0, 1, 2]


def test_the_table_is_rewritten_only_when_the_tail_outgrows_it(store, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "MATERIALISE_MIN_TAIL", 2)
    sizes = []
    for i in range(7):
        store.add_row(_row(i))
        path = store.file("trials.parquet")
        sizes.append(len(pd.read_parquet(path)) if path.exists() else 0)
    assert sizes == [0, 2, 2, 4, 4, 4, 4]  # tail >= max(2, table): 2 rows, then 4 (then 8)
    assert len(RunStore(store.path).trials()) == 7


def test_a_torn_last_line_is_not_a_row_and_the_next_append_drops_it(store) -> None:
    store.add_row(_row(0))
    with open(store.file("trials.jsonl"), "a") as fh:
        fh.write('{"trial": 1, "arch')  # killed mid-write
    assert list(RunStore(store.path).trials()["trial"]) == [0]
    resumed = RunStore(store.path)
    resumed.add_row(_row(1))
    assert list(RunStore(store.path).trials()["trial"]) == [0, 1]
    assert store.file("trials.jsonl").read_text().count("\n") == 2


def test_a_run_from_before_the_journal_keeps_its_rows(store) -> None:
    buf = io.BytesIO()
    pd.DataFrame([_row(0), _row(1)]).to_parquet(buf, index=False)
    store.file("trials.parquet").write_bytes(buf.getvalue())  # written by the old per-row rewrite
    resumed = RunStore(store.path)
    resumed.add_row(_row(2))
    assert list(RunStore(store.path).trials()["trial"]) == [0, 1, 2]
    assert store.file("trials.jsonl").read_text().count("\n") == 3  # the journal again holds every row


def test_updated_columns_of_materialised_rows_stay_beside_newer_journal_rows(store) -> None:
    store.add_row(_row(0))
    store.add_row(_row(1))
    assert store.update_rows("arch_id", {"a1": {"measured_latency_ms": 1.5}}) == 1
    store.add_row(_row(2))
    df = RunStore(store.path).trials()
    assert list(df["trial"]) == [0, 1, 2] and df["measured_latency_ms"].tolist()[1] == 1.5
    assert df["measured_latency_ms"].isna().tolist() == [True, False, True]


def test_a_failed_append_names_the_journal_and_keeps_the_rows_before(store, monkeypatch) -> None:
    store.add_row(_row(0))
    real = store_module.append_line

    def disk_full(path, line):
        with open(path, "a") as fh:
            fh.write(line[:5])  # part of the line reached the disk
        raise RunStoreError(f"`{path}` must be writable, got No space left on device")

    monkeypatch.setattr(store_module, "append_line", disk_full)
    with pytest.raises(RunStoreError, match="trials.jsonl"):
        store.add_row(_row(1))
    assert [r["trial"] for r in store.rows()] == [0]
    monkeypatch.setattr(store_module, "append_line", real)  # space was freed
    store.add_row(_row(1))
    assert list(RunStore(store.path).trials()["trial"]) == [0, 1]


def test_a_corrupt_line_inside_the_journal_is_named(store) -> None:
    store.add_row(_row(0))
    with open(store.file("trials.jsonl"), "a") as fh:
        fh.write("garbage\n")
    with pytest.raises(RunStoreError, match="trials.jsonl.*line 2"):
        RunStore(store.path).trials()
