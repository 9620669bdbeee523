"""The compact ``banked`` export format of NPAS runs (``nas export RUN --trial N --format pytorch,banked``).

Beside the materialised ``model.py`` + ``model.safetensors``, the folder gets:

* ``banked.safetensors``: the parameter banks and the template coefficients the subnet draws on,
  plus its plain tensors (biases, BatchNorm), and in its metadata the recipe of every generated
  weight (bank group, coefficient row, max shape, the index box the subnet slices from it);
* ``banked.py``: a standalone loader (torch + safetensors) that builds ``model.py``'s network,
  generates each weight from bank and coefficients, slices it, and loads the result.

The loaded model must equal the activated supernet's outputs to 1e-5, else nothing is written.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from nas.export.templates import ExportError
from nas.export.verify import EQUAL_ATOL, max_abs_diff
from nas.sharing.bank import BankedSupernet, bank_weight
from nas.sharing.bank_trace import select_box, trace_export
from nas.space import Arch

__all__ = ["BANKED_FILE", "LOADER_FILE", "banked_tensors", "write_banked", "loader_source"]

BANKED_FILE = "banked.safetensors"
LOADER_FILE = "banked.py"
_COUNTER = itertools.count()

_LOADER_HEAD = '''"""Loads the compact (banked) form of this export: weights are generated from parameter banks.

    import banked
    net = banked.load()  # same outputs as model.load(), from banked.safetensors beside this file
"""

from __future__ import annotations

import importlib.util
import json
import os

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

'''

_LOADER_TAIL = '''

def load(folder: str | None = None, device: str = "cpu") -> torch.nn.Module:
    """The model of ``model.py`` with weights generated from ``banked.safetensors``, in eval mode."""
    folder = folder or os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("_banked_model", os.path.join(folder, "model.py"))
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    path = os.path.join(folder, "banked.safetensors")
    with safe_open(path, "pt") as f:
        recipe = json.loads(f.metadata()["banked"])
    tensors = load_file(path)
    state = {k[len("plain."):]: v for k, v in tensors.items() if k.startswith("plain.")}
    for name, r in recipe["generated"].items():
        flat = bank_weight(tensors[f"bank.{r['group']}"], tensors[f"coef.{r['layer']}"], r["numel"], recipe["upsample"],
                           r.get("offset", 0))
        state[name] = select_box(flat.view(r["shape"]), r["runs"]).reshape(r["out_shape"]).contiguous()
    net = source.build()
    net.load_state_dict(state)
    return net.to(device).eval()
'''


def loader_source() -> str:
    """The standalone ``banked.py`` (the generator is :func:`~nas.sharing.bank.bank_weight`'s own source)."""
    return _LOADER_HEAD + "\n" + inspect.getsource(bank_weight) + "\n\n" + inspect.getsource(select_box) + _LOADER_TAIL


@torch.no_grad()
def banked_tensors(net: BankedSupernet, arch: Arch, static: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and recipe of ``arch``'s banked form.

    Args:
        net: The trained banked supernet.
        arch: The exported architecture.
        static: Its materialised module (BatchNorm recalibrated): the plain tensors come from it.

    Returns:
        ``(tensors, recipe)``: ``bank.<g>``, ``coef.<i>``, ``plain.<name>`` tensors and the JSON recipe.
    """
    _, generated = trace_export(net, arch)
    tensors: dict[str, torch.Tensor] = {f"plain.{k}": v.detach().contiguous() for k, v in static.state_dict().items()
                                        if k not in generated}
    recipe: dict[str, Any] = {"upsample": net.upsample, "templates": net.templates, "generated": {}}
    shapes = {k: list(v.shape) for k, v in static.state_dict().items()}
    fraction = net.fraction_of(arch)
    for name, (i, runs) in generated.items():
        g, layer = net.groups[i], net.layers[i]
        tensors[f"bank.{g}"] = net.bank(g, fraction).detach().contiguous()
        tensors[f"coef.{i}"] = net.coefs[i].detach().contiguous()
        recipe["generated"][name] = {"layer": i, "group": g, "shape": list(layer.shape), "numel": layer.numel,
                                     "offset": net.layer_offset(i, fraction),
                                     "runs": [[list(r) for r in dim] for dim in runs], "out_shape": shapes[name]}
    return tensors, recipe


def _import_loader(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_nas_banked_{next(_COUNTER)}", path)
    if spec is None or spec.loader is None:
        raise ExportError(f"`{LOADER_FILE}` must be importable, got nothing loadable at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_banked(net: Any, arch: Arch, static: nn.Module, folder: Path, x: torch.Tensor,
                 ref_out: torch.Tensor) -> dict[str, Any]:
    """Writes ``banked.safetensors`` and ``banked.py`` into ``folder`` (which holds ``model.py``) and checks them.

    Returns:
        The verification record: ``max_abs_diff`` from the supernet, ``atol``, ``stored_params``
        (parameters in the file: banks, coefficients, plain parameters) and ``materialised_params``.

    Raises:
        ExportError: for a supernet without banks, or outputs farther than 1e-5 from the supernet's.
    """
    if not isinstance(net, BankedSupernet):
        raise ExportError(f"`--format banked` must export a run trained with `--sharing npas`, got a "
                          f"{type(net).__name__} without parameter banks")
    tensors, recipe = banked_tensors(net, arch, static)
    save_file(tensors, str(folder / BANKED_FILE), metadata={"banked": json.dumps(recipe)})
    (folder / LOADER_FILE).write_text(loader_source(), encoding="utf-8")
    model = _import_loader(folder / LOADER_FILE).load(str(folder))
    with torch.no_grad():
        err = max_abs_diff(model(x), ref_out)
    if not err <= EQUAL_ATOL:
        raise ExportError(f"banked model must equal the activated supernet subnet to {EQUAL_ATOL:g}, got max |diff| {err:.3g}")
    params = {n for n, _ in static.named_parameters()}
    stored = sum(v.numel() for k, v in tensors.items()
                 if not k.startswith("plain.") or k[len("plain."):] in params)
    return {"max_abs_diff": err, "atol": EQUAL_ATOL, "ok": True, "stored_params": int(stored),
            "materialised_params": int(sum(p.numel() for p in static.parameters())),
            "generated": len(recipe["generated"])}
