"""Serialised forms beside ``model.py``: ONNX (checked with ONNX Runtime) and TorchScript.

Each writer exports the loaded model, reads its own file back and returns the largest absolute
difference from the eager outputs on the check batch (and, for ONNX, on a batch of one, which
proves the batch dimension is dynamic).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.export.templates import ExportError
from nas.export.verify import max_abs_diff

__all__ = ["FORMATS", "parse_formats", "write_onnx", "write_torchscript"]

FORMATS = ("pytorch", "onnx", "torchscript", "banked")  # banked: NPAS runs, see nas.export.banked


def parse_formats(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parses ``pytorch,onnx,torchscript`` (``pytorch`` is always written).

    Raises:
        ConfigError: naming ``--format`` and the unknown item.
    """
    from nas.errors import invalid

    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    for item in items:
        if item not in FORMATS:
            raise invalid("--format", f"list formats among {list(FORMATS)}", item)
    return tuple(f for f in FORMATS if f == "pytorch" or f in items)


@contextlib.contextmanager
def _quiet() -> Any:
    """Silences the exporter's progress lines and warnings (they are not the user's business)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def _ort_session(path: Path) -> Any:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@torch.no_grad()
def write_onnx(model: nn.Module, path: Path, x: torch.Tensor) -> dict[str, float]:
    """Writes ``model`` as one self-contained ONNX file with a dynamic batch and checks it.

    Args:
        model: The loaded model (eval mode).
        path: Where ``model.onnx`` goes.
        x: The check batch (real inputs, batch size above one).

    Returns:
        ``max_abs_diff`` on the check batch and ``max_abs_diff_batch1`` on its first sample.

    Raises:
        ExportError: when the exporter fails (naming the model class and the cause).
    """
    model.eval()
    try:
        with _quiet():
            torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              external_data=False, verbose=False)
    except Exception as e:  # noqa: BLE001 - any exporter failure is reported with its cause
        raise ExportError(f"model {type(model).__name__} must be exportable to ONNX, got {type(e).__name__}: {e}"[:800]) from e
    session = _ort_session(path)
    name = session.get_inputs()[0].name
    out = session.run(None, {name: x.numpy()})[0]
    one = session.run(None, {name: x[:1].numpy()})[0]
    return {"max_abs_diff": max_abs_diff(out, model(x)), "max_abs_diff_batch1": max_abs_diff(one, model(x[:1]))}


@torch.no_grad()
def write_torchscript(model: nn.Module, path: Path, x: torch.Tensor) -> dict[str, Any]:
    """Writes ``model`` as TorchScript (scripted; traced when scripting fails) and checks it.

    Returns:
        ``method`` (``script`` or ``trace``) and ``max_abs_diff`` of the reloaded file.
    """
    model.eval()
    method = "script"
    with _quiet():
        try:
            scripted = torch.jit.script(model)
        except Exception:  # noqa: BLE001 - a block TorchScript cannot compile is traced instead
            method = "trace"
            scripted = torch.jit.trace(model, (x,), check_trace=False)
        torch.jit.save(scripted, str(path))
        loaded = torch.jit.load(str(path), map_location="cpu")
    return {"method": method, "max_abs_diff": max_abs_diff(loaded(x), model(x))}
