"""The export folder of a tiny real run: files, equality, ONNX Runtime, card, loader, hand-written twin."""

from __future__ import annotations

import ast
import json

import numpy as np
import torch
from safetensors.torch import load_file

from benchmarks.export_latency import HandCNN1d
from nas.export import load_export
from nas.store import RunStore

FILES = {"model.py", "model.safetensors", "arch.json", "model.onnx", "check.safetensors", "verify.json", "card.md"}


def test_folder_has_every_file_and_nothing_partial_beside_it(exported):
    assert FILES <= {p.name for p in exported.iterdir()}
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")], "staging folders left behind"


def test_model_py_imports_only_torch_and_names_the_space_blocks(exported):
    tree = ast.parse((exported / "model.py").read_text())
    top = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    assert top <= {"__future__", "os", "collections", "torch", "safetensors"}, top
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {"StaticBlock", "StaticCNN1d"} <= classes


def test_verification_record_meets_the_tolerances(exported):
    v = json.loads((exported / "verify.json").read_text())
    assert v["equality"]["ok"] and v["equality"]["loaded_vs_supernet"] <= 1e-5
    assert v["onnx"]["ok"] and v["onnx"]["max_abs_diff"] <= 1e-4 and v["onnx"]["max_abs_diff_batch1"] <= 1e-4
    lat = v["latency"]
    assert lat["exported_ms"] > 0 and lat["supernet_ms"] > 0
    assert lat["not_higher"] == (lat["exported_ms"] <= lat["supernet_ms"])


def test_loader_reproduces_the_recorded_check_and_the_trial(exported, tiny_run):
    loaded = load_export(exported)
    assert loaded.recheck() <= 1e-5
    x, want = loaded.check_batch()
    supernet_out = load_file(str(exported / "check.safetensors"))["supernet_outputs"]
    assert torch.allclose(want, supernet_out, atol=1e-5)  # not fine-tuned: the supernet's outputs
    runs, run_id = tiny_run
    row = next(r for r in RunStore(runs / run_id).rows() if r["arch_id"] == json.loads((exported / "arch.json").read_text())["arch_id"])
    assert json.loads(row["arch"]) == loaded.arch


def test_onnx_runtime_matches_with_a_dynamic_batch(exported):
    import onnxruntime as ort

    x, want = load_export(exported).check_batch()
    session = ort.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for batch in (x, x[:1], x[:5]):
        got = session.run(None, {name: batch.numpy()})[0]
        assert np.abs(got - want[: len(batch)].numpy()).max() <= 1e-4


def test_hand_written_model_with_the_exported_weights_is_the_same_function(exported):
    loaded = load_export(exported)
    hand = HandCNN1d(loaded.arch).load_from(loaded.model)
    x, want = loaded.check_batch()
    with torch.no_grad():
        assert (hand(x) - want).abs().max() <= 1e-5


def test_card_holds_summary_metrics_provenance_and_loading_snippet(exported, tiny_run):
    card = (exported / "card.md").read_text()
    _, run_id = tiny_run
    v = json.loads((exported / "verify.json").read_text())
    for needle in (run_id, "parameters", "MACs", "FLOPs", "validation accuracy", "test accuracy", "latency median",
                   "net = model.load()", "seeds", "versions at search", f"{v['equality']['loaded_vs_supernet']:.3g}"):
        assert needle in card, needle
