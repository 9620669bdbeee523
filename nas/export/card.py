"""The model card ``card.md``: what the model is, how good and fast it is, where it came from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["render_card"]


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return "—" if v is None else str(v)


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| | |", "|---|---|", *[f"| {k} | {_fmt(v)} |" for k, v in rows]]


def _finetune(ft: Mapping[str, Any] | None) -> list[str]:
    if not ft:
        return ["Not fine-tuned: the weights are the supernet's, materialised, with BatchNorm recalibrated."]
    return [
        f"Fine-tuned for {ft['epochs']} epoch(s) on the training split; kept the weights of epoch "
        f"{ft['kept_epoch']} (best validation accuracy; epoch 0 = as exported).",
        "",
        "| accuracy (%) | before | after |",
        "|---|---|---|",
        f"| validation | {ft['val_before']:.2f} | {ft['val_after']:.2f} |",
        f"| test | {ft['test_before']:.2f} | {ft['test_after']:.2f} |",
    ]


def _verification(v: Mapping[str, Any]) -> list[str]:
    eq, lat = v["equality"], v["latency"]
    lines = [
        f"- `model.py` + `model.safetensors` vs the activated supernet subnet (BN recalibrated), "
        f"{v['check_batch']['size']} real `{v['check_batch']['split']}` inputs: max |diff| = "
        f"{eq['loaded_vs_supernet']:.3g} (tolerance {eq['atol']:g})",
    ]
    if "onnx" in v:
        o = v["onnx"]
        lines.append(f"- ONNX Runtime vs PyTorch: max |diff| = {o['max_abs_diff']:.3g} (batch of one: "
                     f"{o['max_abs_diff_batch1']:.3g}; tolerance {o['atol']:g})")
    if "torchscript" in v:
        lines.append(f"- TorchScript ({v['torchscript']['method']}) vs PyTorch: max |diff| = {v['torchscript']['max_abs_diff']:.3g}")
    lines.append(f"- latency (interleaved, {lat['protocol_text']}): exported {lat['exported_ms']:.4g} ms "
                 f"(IQR {lat['exported_iqr_ms']:.3g}) vs activated supernet {lat['supernet_ms']:.4g} ms "
                 f"(IQR {lat['supernet_iqr_ms']:.3g}); ratio {lat['ratio']:.3f}")
    return lines


def render_card(info: Mapping[str, Any]) -> str:
    """Renders ``card.md`` from the export's record (the dict :mod:`nas.export.pipeline` builds).

    Expected keys: ``space``, ``task``, ``arch``, ``arch_id``, ``summary``, ``params``, ``macs``,
    ``metrics`` (measured now), ``recorded`` (the trial's row), ``device``, ``provenance``,
    ``verify``, ``formats``, ``input_shape``.
    """
    prov, m, v = info["provenance"], info["metrics"], info["verify"]
    lat = v["latency"]
    lines = [
        f"# {info['space']} subnet `{info['arch_id']}`",
        "",
        f"Exported by ShareNAS from run `{prov.get('run_id', '—')}`, trial {prov.get('trial', '—')}, "
        f"task `{info['task']}` (input shape {list(info['input_shape'])}).",
        "",
        "## Load it (needs only `torch` and `safetensors`)",
        "",
        "```python",
        "import torch, model                  # run inside this folder",
        "net = model.load()                   # model.py + model.safetensors, eval mode",
        f"logits = net(torch.randn(1, {', '.join(map(str, info['input_shape']))}))",
        "```",
        "",
        "## Architecture",
        "",
        f"`{info['summary']}`",
        "",
        "```json",
        json.dumps(info["arch"], indent=1),
        "```",
        "",
        *_table([("parameters", info["params"]), ("MACs, one input", info["macs"]),
                 ("FLOPs (2 x MACs), one input", 2 * int(info["macs"]))]),
        "",
        f"## Measured on `{info['device']}`",
        "",
        *_table([
            ("validation accuracy (%)", m["accuracy"]),
            ("test accuracy (%)", m["test_accuracy"]),
            ("latency median (ms)", lat["exported_ms"]),
            ("latency IQR (ms)", lat["exported_iqr_ms"]),
            ("recorded in the search: accuracy (%)", info["recorded"].get("accuracy")),
            ("recorded in the search: latency (ms)", info["recorded"].get("latency_ms")),
        ]),
        "",
        "## Fine-tuning",
        "",
        *_finetune(v.get("finetune")),
        "",
        "## Verification",
        "",
        *_verification(v),
        "",
        "## Provenance",
        "",
        *_table([
            ("run", prov.get("run_id")),
            ("trial", prov.get("trial")),
            ("seeds", json.dumps(prov.get("seeds", {}))),
            ("versions at search", json.dumps(prov.get("versions", {}))),
            ("versions at export", json.dumps(prov.get("export_versions", {}))),
            ("files", ", ".join(info["formats"])),
        ]),
        "",
    ]
    return "\n".join(lines)
