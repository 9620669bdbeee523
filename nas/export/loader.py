"""Loading an export folder back, for users who do have ShareNAS.

:func:`load_export` imports the folder's own ``model.py`` (by path, under a private module
name, so that several exports can be loaded side by side), loads ``model.safetensors`` and
returns the model with its architecture, verification record and check batch.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from nas.errors import UserInputError

__all__ = ["ExportedModel", "load_export", "import_model_source"]

_COUNTER = itertools.count()


@dataclass
class ExportedModel:
    """A loaded export folder.

    Attributes:
        model: The standalone model with its trained weights, in eval mode.
        source: The imported ``model.py`` module (``build()``, ``load()``, block classes).
        arch: The architecture's choices (``arch.json``'s ``arch``).
        verify: The verification record (``verify.json``; empty when absent).
        path: The folder.
    """

    model: nn.Module
    source: ModuleType
    arch: dict[str, Any]
    verify: dict[str, Any] = field(default_factory=dict)
    path: Path = Path(".")

    def check_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored check inputs and the outputs the model must reproduce (``check.safetensors``)."""
        from safetensors.torch import load_file

        tensors = load_file(str(self.path / "check.safetensors"))
        return tensors["inputs"], tensors["outputs"]

    def recheck(self) -> float:
        """Runs the check batch again; returns the largest absolute difference from the record."""
        x, want = self.check_batch()
        with torch.no_grad():
            got = self.model(x)
        return float((got.double() - want.double()).abs().max())


def import_model_source(path: str | Path) -> ModuleType:
    """Imports a generated ``model.py`` from its file under a fresh private module name.

    The module is kept in ``sys.modules`` (TorchScript reads class sources through it).
    """
    path = Path(path)
    name = f"_sharenas_export_{next(_COUNTER)}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserInputError(f"`model.py` must be an importable Python file, got {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_export(folder: str | Path, device: str = "cpu") -> ExportedModel:
    """Loads an export folder written by ``nas export`` / :func:`nas.export.export_arch`.

    Args:
        folder: The export folder (holding ``model.py``, ``model.safetensors``, ``arch.json``).
        device: Where the weights go.

    Raises:
        UserInputError: naming the folder and the missing file.
    """
    folder = Path(folder)
    for name in ("model.py", "model.safetensors", "arch.json"):
        if not (folder / name).is_file():
            raise UserInputError(f"`folder` must be an export folder holding {name}, got {str(folder)!r} without it")
    source = import_model_source(folder / "model.py")
    model = source.load(str(folder / "model.safetensors"), device=device)
    arch = json.loads((folder / "arch.json").read_text()).get("arch", {})
    verify_path = folder / "verify.json"
    verify = json.loads(verify_path.read_text()) if verify_path.is_file() else {}
    return ExportedModel(model, source, arch, verify, folder)
