"""Per-layer lookup tables: split any static subnet into layer units, key them, time each once.

A *unit* is a child of the exported module that is not a plain container (``nn.Sequential``,
``nn.ModuleList``, ``nn.ModuleDict`` are descended into): for ``cnn1d`` the stem, every
``StaticBlock`` and the head; for an inverted-residual CNN every block. Forward hooks record,
for each call of a unit, the shapes of its inputs; the unit's key hashes its class, its
``repr`` (which spells the configuration of every child: channels, kernel, stride, groups),
the simple attributes of it and its children (``residual``, ``use_se``, ...) and the input
shapes. So one elastic layer configuration × input shape is one table entry, for any space,
without space-specific code. Work done outside units (a functional pooling in the root's
``forward``) is not in the table; the learned correction of the latency model absorbs it.

A :class:`LayerTable` maps keys to measured times and is stored as JSON (atomic writes). A file
that cannot be read back raises :class:`DeviceTableError`, naming the file; it is never
overwritten silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import UserInputError
from nas.profiling.backends import Item
from nas.profiling.measure import LatencyProtocol, LatencyResult

__all__ = ["Unit", "DeviceTableError", "LayerTable", "layer_units", "write_json_atomic", "read_json_checked"]

Shape = tuple[int, ...]
TABLE_FORMAT = 1
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class DeviceTableError(UserInputError):
    """A stored device table or latency model is unreadable or inconsistent."""


@dataclass(frozen=True)
class Unit:
    """One call of a layer unit inside a subnet's forward pass.

    Attributes:
        key: Hash of the unit's configuration and input shapes (the table key).
        path: Module path of the unit inside the subnet.
        desc: Short description (class, configuration, input shapes) for humans.
        shapes: Input shapes of the call (batch included).
        out_numel: Elements of the output (an activation-size feature).
        timeable: Whether the unit can be timed alone (tensor positional inputs only).
    """

    key: str
    path: str
    desc: str
    shapes: tuple[Shape, ...]
    out_numel: int
    timeable: bool


def _unit_modules(root: nn.Module) -> list[tuple[str, nn.Module]]:
    out: list[tuple[str, nn.Module]] = []

    def walk(m: nn.Module, prefix: str, depth: int) -> None:
        for name, child in m.named_children():
            path = f"{prefix}.{name}" if prefix else name
            plain = isinstance(child, _CONTAINERS) and (
                not isinstance(child, nn.Sequential) or type(child).forward is nn.Sequential.forward)
            if plain and depth < 16:
                walk(child, path, depth + 1)
            else:
                out.append((path, child))

    walk(root, "", 0)
    return out or [("", root)]


def _signature(m: nn.Module) -> str:
    attrs: dict[str, Any] = {}
    for name, sub in m.named_modules():
        for k, v in vars(sub).items():
            if not k.startswith("_") and k != "training" and isinstance(v, (bool, int, float, str, tuple)):
                attrs[f"{name}.{k}"] = v
    return f"{type(m).__module__}.{type(m).__qualname__}|{m!r}|{json.dumps(attrs, sort_keys=True, default=str)}"


def _describe(m: nn.Module, shapes: Sequence[Shape]) -> str:
    inner = ",".join(f"{type(c).__name__}" for c in m.children()) or repr(m)
    return f"{type(m).__name__}[{inner[:120]}] in {list(map(list, shapes))}"


@torch.no_grad()
def layer_units(module: nn.Module, input_shape: Shape, batch_size: int = 1,
                seed: int = 0) -> tuple[list[Unit], dict[str, nn.Module]]:
    """Runs ``module`` once on a random batch and lists the unit calls, in call order.

    Args:
        module: A static (exported) subnet.
        input_shape: Shape of one input (no batch dimension).
        batch_size: Batch of the timed input (input shapes of units include it).
        seed: Seed of the random input.

    Returns:
        The unit calls, and for each distinct key the module that first produced it.
    """
    calls: list[Unit] = []
    modules: dict[str, nn.Module] = {}
    pending: dict[int, tuple[tuple[Shape, ...], bool]] = {}
    handles = []

    def pre(m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        tensors = all(isinstance(a, torch.Tensor) for a in args) and not kwargs and len(args) > 0
        shapes = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))
        pending[id(m)] = (shapes, tensors)

    def post(path: str) -> Callable[..., None]:
        def hook(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            shapes, tensors = pending.pop(id(m), ((), False))
            sig = _signature(m) + "|" + repr(shapes)
            key = hashlib.sha1(sig.encode()).hexdigest()[:16]
            numel = int(out.numel()) if isinstance(out, torch.Tensor) else 0
            calls.append(Unit(key, path, _describe(m, shapes), shapes, numel, tensors))
            modules.setdefault(key, m)
        return hook

    for path, m in _unit_modules(module):
        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(post(path)))
    was_training = module.training
    module.eval()
    try:
        gen = torch.Generator().manual_seed(seed)
        module(torch.randn((batch_size, *input_shape), generator=gen))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return calls, modules


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes JSON through a temp file and ``os.replace`` (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_checked(path: Path, kind: str, keys: Sequence[str]) -> dict[str, Any]:
    """Reads a JSON object that must hold ``keys``; raises :class:`DeviceTableError` otherwise."""
    hint = f"move it away or rerun `nas profile ... --rebuild` (the file is left untouched)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DeviceTableError(f"`{kind}` must be a readable JSON file written by `nas profile`, got a corrupt file "
                               f"{str(path)!r} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); {hint}") from e
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if missing:
        raise DeviceTableError(f"`{kind}` must hold keys {list(keys)}, got a file {str(path)!r} missing {missing}; {hint}")
    return data


class LayerTable:
    """Measured time of each unit key on one device.

    Args:
        entries: ``key -> {"ms", "iqr_ms", "calls", "desc"}``.
    """

    def __init__(self, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.entries: dict[str, dict[str, Any]] = dict(entries or {})

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def ms(self, key: str) -> float:
        """Time of one unit key (KeyError when absent)."""
        return float(self.entries[key]["ms"])

    def missing(self, calls: Sequence[Unit]) -> list[Unit]:
        """Timeable unit calls whose key is not in the table (first call of each key)."""
        seen: set[str] = set()
        out = []
        for u in calls:
            if u.timeable and u.key not in self.entries and u.key not in seen:
                seen.add(u.key)
                out.append(u)
        return out

    def fill(self, calls: Sequence[Unit], modules: dict[str, nn.Module], measure: Callable[..., list[LatencyResult]],
             protocol: LatencyProtocol, rounds: int = 1) -> int:
        """Times the units of ``calls`` not yet in the table with ``measure(items, protocol, rounds)``.

        Returns:
            The number of entries added.
        """
        todo = self.missing(calls)
        if not todo:
            return 0
        results = measure([Item(modules[u.key], u.shapes) for u in todo], protocol, rounds)
        for u, r in zip(todo, results):
            self.entries[u.key] = {"ms": r.median_ms, "iqr_ms": r.iqr_ms, "calls": r.calls, "desc": u.desc}
        return len(todo)

    def compose(self, calls: Sequence[Unit]) -> tuple[float, int]:
        """Sum of the table times over the calls, and how many timeable calls had no entry."""
        total, absent = 0.0, 0
        for u in calls:
            if not u.timeable:
                continue
            e = self.entries.get(u.key)
            if e is None:
                absent += 1
            else:
                total += float(e["ms"])
        return total, absent

    def to_dict(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Plain data with ``meta`` (device, fingerprint, protocol)."""
        return {"format": TABLE_FORMAT, "meta": meta, "entries": self.entries}

    @classmethod
    def load(cls, path: Path) -> tuple[LayerTable, dict[str, Any]]:
        """Reads a table file; raises :class:`DeviceTableError` on a corrupt one."""
        data = read_json_checked(path, "device table", ("format", "meta", "entries"))
        entries = data["entries"]
        bad = [k for k, v in entries.items() if not isinstance(v, dict) or not isinstance(v.get("ms"), (int, float))
               or not v["ms"] >= 0] if isinstance(entries, dict) else ["entries"]
        if data["format"] != TABLE_FORMAT or bad:
            raise DeviceTableError(f"`device table` must hold non-negative `ms` per entry (format {TABLE_FORMAT}), got "
                                   f"{str(path)!r} with format {data['format']!r} and {len(bad)} bad entries; move it "
                                   "away or rerun `nas profile ... --rebuild` (the file is left untouched)")
        return cls(entries), data["meta"]
