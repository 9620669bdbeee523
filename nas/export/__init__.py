"""Export a chosen architecture as a standalone model folder (``nas export``).

The folder runs without ShareNAS: ``model.py`` (generated plain PyTorch), ``model.safetensors``
(materialised weights, BatchNorm recalibrated), ``arch.json``, ``model.onnx``, optionally
``model.ts``, ``check.safetensors`` (a batch of real inputs and the supernet's outputs),
``verify.json`` (equality and latency checks) and ``card.md``.

Spaces declare how their static blocks are written into ``model.py`` with
:func:`register_block` (light import: spaces call it at registration time). The heavier API
(:func:`export_arch`, :func:`load_export`, :func:`select_trial`) is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.export.templates import BlockTemplate, ExportError, register_block, template_of

__all__ = [
    "BlockTemplate",
    "ExportError",
    "register_block",
    "template_of",
    "generate_source",
    "export_arch",
    "export_run",
    "ExportResult",
    "load_export",
    "select_trial",
]

_LAZY = {
    "generate_source": "nas.export.codegen",
    "export_arch": "nas.export.pipeline",
    "export_run": "nas.export.pipeline",
    "ExportResult": "nas.export.pipeline",
    "load_export": "nas.export.loader",
    "select_trial": "nas.export.select",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas.export' has no attribute {name!r}")
