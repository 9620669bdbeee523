"""The ``nas bench export-check`` harness: its pieces on the tiny run, and (slow) a whole space end to end."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks.export_check import _card_finetune, _parse_map, _pareto_trial, check_in_venv, run


def test_check_in_venv_reproduces_the_record_and_reports_what_is_importable(exported):
    # This interpreter has ShareNAS and numpy: the check must say so (the torch-only venv must not).
    res = check_in_venv(sys.executable, exported)
    assert res["max_abs_err"] <= 1e-5 and res["max_abs_err_batch1"] <= 1e-5
    assert res["max_abs_err_vs_supernet"] <= 1e-5  # not fine-tuned
    assert {"nas", "numpy"} <= set(res["importable_forbidden"])
    assert res["model_file"].endswith(str(exported.name) + "/model.py")


def test_card_figures_are_read_back_and_a_card_without_them_is_refused(exported):
    card = "| accuracy (%) | before | after |\n|---|---|---|\n| validation | 81.25 | 83.50 |\n| test | 80.00 | 82.75 |\n"
    assert _card_finetune(card) == {"test_before": 80.0, "test_after": 82.75, "val_before": 81.25, "val_after": 83.5}
    with pytest.raises(RuntimeError, match="card.md must record test accuracy"):
        _card_finetune((exported / "card.md").read_text())  # an export that was not fine-tuned


def test_the_pareto_trial_is_the_most_accurate_front_member(tiny_run):
    runs, run_id = tiny_run
    front = json.loads((runs / run_id / "front.json").read_text())["front"]
    pick = _pareto_trial(runs / run_id)
    assert pick["trial"] in {r["trial"] for r in front}
    assert pick["recorded"]["accuracy"] == max(r["accuracy"] for r in front)


def test_task_overrides_must_be_pairs():
    assert _parse_map("mbconv=digits, tinylm=pydoc-text") == {"mbconv": "digits", "tinylm": "pydoc-text"}
    with pytest.raises(ValueError, match="`tasks` must be comma-separated space=task pairs, got 'mbconv'"):
        _parse_map("mbconv")


@pytest.mark.slow
def test_export_check_end_to_end_on_cnn1d(tmp_path):
    out = tmp_path / "export_check.json"
    res = run(spaces="cnn1d", budget=2, epochs=1, finetune="cnn1d", finetune_epochs=1, workdir=str(tmp_path / "w"),
              out=str(out))
    assert json.loads(out.read_text())["spaces"][0]["space"] == "cnn1d"
    row = res["spaces"][0]
    venv = row["torch_only_venv"]
    assert venv["importable_forbidden"] == [] and venv["prefix"] != sys.prefix
    assert venv["max_abs_err"] <= 1e-5 and row["onnxruntime"]["max_abs_err"] <= 1e-4
    assert not any(p.lower().startswith(("numpy", "onnx", "sharenas")) for p in res["torch_only_venv"]["pip_freeze"])
    ft = row["finetune"]
    recorded = json.loads((tmp_path / "w" / "cnn1d" / "exports" / f"cnn1d-trial-{row['trial']}-ft1" / "verify.json").read_text())
    assert (ft["test_before"], ft["test_after"]) == (round(recorded["finetune"]["test_before"], 2),
                                                    round(recorded["finetune"]["test_after"], 2))
    assert ft["torch_only_venv"]["max_abs_err"] <= 1e-5


def test_a_foreign_folder_is_never_taken_over_as_the_venv(tmp_path):
    from benchmarks.export_check import ensure_torch_venv

    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="`venv_dir` must be a new or empty folder or a venv made by this harness"):
        ensure_torch_venv(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
