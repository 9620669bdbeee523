"""Plain PyTorch source from a static module tree: the generator behind ``model.py``.

The generator walks the exported (static) module and writes:

* one class definition per custom block, from its registered :mod:`template <nas.export.templates>`
  (children before parents);
* a ``build()`` function that constructs the tree: ``torch.nn`` layers from their constructor
  signatures (``nn.Conv1d(1, 48, 5, padding=2, bias=False)``), containers with their children,
  custom blocks with their constructor arguments;
* sharing as sharing: a module reachable from several places (a trunk with several heads, a tied
  block) is built once into a local variable and passed to each place; parameters shared between
  different modules (tied weights) are re-tied after construction. ``model.safetensors`` then
  stores each shared tensor once.

:func:`generate_source` checks its own output: the source is executed and the state-dict names,
shapes and sharing of ``build()`` must equal the module's.
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nas.export._render import Call, Raw, Seq, fmt, literal
from nas.export.templates import ExportError, template_of

__all__ = ["generate_source", "exec_source", "sharing_groups"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_INT_OR_TUPLE = {"kernel_size", "stride", "padding", "dilation", "output_padding"}


def _is_torch_module(m: nn.Module) -> bool:
    return type(m).__module__.startswith("torch.nn.") and template_of(type(m)) is None


def _mha_args(m: nn.Module) -> dict[str, Any]:
    return {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "dropout": m.dropout,
            "bias": m.in_proj_bias is not None, "add_bias_kv": m.bias_k is not None,
            "add_zero_attn": m.add_zero_attn, "kdim": m.kdim, "vdim": m.vdim, "batch_first": m.batch_first}


_SPECIAL: dict[type, Any] = {nn.MultiheadAttention: _mha_args}


class _Generator:
    def __init__(self, root: nn.Module) -> None:
        self.root = root
        self.args: dict[int, dict[str, Any]] = {}
        self.refs: dict[int, int] = {}
        self.first_path: dict[int, str] = {}
        self.var: dict[int, str] = {}
        self.lines: list[str] = []
        self.needs_ordered_dict = False

    # ---- construction graph --------------------------------------------------------------
    def children(self, m: nn.Module) -> list[tuple[str, nn.Module]]:
        if isinstance(m, _CONTAINERS):
            return list(m.named_children())
        if _is_torch_module(m):
            return []
        out: list[tuple[str, nn.Module]] = []

        def walk(key: str, v: Any) -> None:
            if isinstance(v, nn.Module):
                out.append((key, v))
            elif isinstance(v, (list, tuple)):
                for i, item in enumerate(v):
                    walk(f"{key}_{i}", item)
            elif isinstance(v, dict):
                for k, item in v.items():
                    walk(f"{key}_{k}", item)

        for k, v in self.block_args(m).items():
            walk(k, v)
        return out

    def block_args(self, m: nn.Module) -> dict[str, Any]:
        if id(m) not in self.args:
            template = template_of(type(m))
            if template is None:
                raise ExportError(
                    f"module of class {type(m).__qualname__} ({type(m).__module__}) must have a source template to be "
                    f"exported; register it with nas.export.register_block({type(m).__name__})"
                )
            self.args[id(m)] = dict(template.args(m))
        return self.args[id(m)]

    def count(self, m: nn.Module, path: str) -> None:
        self.refs[id(m)] = self.refs.get(id(m), 0) + 1
        if self.refs[id(m)] > 1:
            return
        self.first_path[id(m)] = path
        for key, child in self.children(m):
            self.count(child, f"{path}_{key}" if path else key)

    def name_shared(self) -> None:
        taken: set[str] = {"model", "build", "load", "torch", "nn", "F", "os"}
        for mid, n in self.refs.items():
            if n > 1 and mid != id(self.root):
                base = re.sub(r"\W", "_", self.first_path[mid]) or "shared"
                base = f"shared_{base}" if base[0].isdigit() or keyword.iskeyword(base) else base
                name, i = base, 2
                while name in taken:
                    name, i = f"{base}_{i}", i + 1
                taken.add(name)
                self.var[mid] = name

    # ---- rendering -----------------------------------------------------------------------
    def expr(self, m: nn.Module) -> Any:
        if id(m) in self.var:
            self.define(m)
            return Raw(self.var[id(m)])
        return self.construct(m)

    def define(self, m: nn.Module) -> None:
        name = self.var[id(m)]
        if any(line.startswith(f"{name} = ") for line in self.lines):
            return
        self.lines.append(f"{name} = {fmt(self.construct(m), 4, len(name) + 3)}")

    def construct(self, m: nn.Module) -> Any:
        if isinstance(m, nn.Sequential):
            kids = list(m.named_children())
            if all(k == str(i) for i, (k, _) in enumerate(kids)):
                return Call("nn.Sequential", [self.expr(c) for _, c in kids], [])
            self.needs_ordered_dict = True
            pairs = Seq("[", "]", [Seq("(", ")", [Raw(repr(k)), self.expr(c)]) for k, c in kids])
            return Call("nn.Sequential", [Call("OrderedDict", [pairs], [])], [])
        if isinstance(m, nn.ModuleList):
            return Call("nn.ModuleList", [Seq("[", "]", [self.expr(c) for c in m])], [])
        if isinstance(m, nn.ModuleDict):
            items = [Raw(f"{k!r}: {fmt(self.expr(c), 0)}") for k, c in m.items()]
            return Call("nn.ModuleDict", [Seq("{", "}", items)], [])
        if _is_torch_module(m):
            return self.torch_call(m)
        return Call(type(m).__name__, [], [(k, self.value(v)) for k, v in self.block_args(m).items()])

    def value(self, v: Any) -> Any:
        if isinstance(v, nn.Module):
            return self.expr(v)
        if isinstance(v, list) and any(isinstance(i, nn.Module) for i in v):
            return Seq("[", "]", [self.value(i) for i in v])
        if isinstance(v, tuple) and any(isinstance(i, nn.Module) for i in v):
            return Seq("(", ",)" if len(v) == 1 else ")", [self.value(i) for i in v])
        if isinstance(v, dict) and any(isinstance(i, nn.Module) for i in v.values()):
            return Seq("{", "}", [Raw(f"{k!r}: {fmt(self.value(i), 0)}") for k, i in v.items()])
        return Raw(literal(v))

    def torch_call(self, m: nn.Module) -> Call:
        cls = type(m)
        sig = inspect.signature(cls.__init__)
        given = _SPECIAL[cls](m) if cls in _SPECIAL else None
        positional: list[Any] = []
        keywords: list[tuple[str, Any]] = []
        for name, p in list(sig.parameters.items())[1:]:
            if name in ("device", "dtype") or name.startswith("_") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if given is not None:
                if name not in given:
                    continue
                v = given[name]
            elif hasattr(m, name):
                v = getattr(m, name)
            elif p.default is not p.empty:
                continue
            else:
                raise ExportError(f"layer {cls.__name__} must expose constructor argument `{name}`, got no attribute")
            if isinstance(v, torch.Tensor) or (v is None and isinstance(p.default, bool)):
                if not isinstance(p.default, bool):
                    raise ExportError(f"layer {cls.__name__} argument `{name}` must be a plain value, got a tensor")
                v = v is not None  # `bias=True` keeps a bias tensor, `bias=False` leaves None
            if name in _INT_OR_TUPLE and isinstance(v, tuple) and v and len(set(v)) == 1 and isinstance(v[0], int):
                v = v[0]
            if p.default is not p.empty and _same(v, p.default):
                continue
            if p.default is p.empty and not keywords:
                positional.append(Raw(literal(v)))
            else:
                keywords.append((name, Raw(literal(v))))
        return Call(f"nn.{cls.__name__}", positional, keywords)

    def classes(self) -> list[type]:
        order: list[type] = []

        def visit(m: nn.Module) -> None:
            for child in m.children():
                visit(child)
            for v in self.args.get(id(m), {}).values():
                for c in v if isinstance(v, (list, tuple)) else [v]:
                    if isinstance(c, nn.Module):
                        visit(c)
            if not _is_torch_module(m) and not isinstance(m, _CONTAINERS) and type(m) not in order:
                order.append(type(m))

        visit(self.root)
        return order


def _same(a: Any, b: Any) -> bool:
    """Whether a rendered value equals a signature default (so that it can be left out)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are simply rendered
        return False


def sharing_groups(module: nn.Module) -> list[list[str]]:
    """Names of parameters and buffers that are the same tensor, one list per shared tensor."""
    groups: dict[int, list[str]] = {}
    for name, t in [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]:
        groups.setdefault(id(t), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


def exec_source(source: str, name: str = "model") -> dict[str, Any]:
    """Executes generated source in a fresh namespace and returns it (no file, no import)."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, f"<{name}.py>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


def generate_source(module: nn.Module, doc: str = "Generated model.", constants: Mapping[str, Any] | None = None) -> str:
    """Writes ``module``'s architecture as standalone PyTorch source (see the module docstring).

    Args:
        module: A static module tree (torch layers, containers, registered custom blocks).
        doc: The generated file's docstring.
        constants: Module-level constants written as JSON-style literals (e.g. ``INPUT_SHAPE``).

    Returns:
        The text of ``model.py``; ``build()`` returns the architecture, ``load(path)`` the weights.

    Raises:
        ExportError: naming the module class that cannot be written, or the check that failed.
    """
    gen = _Generator(module)
    gen.count(module, "")
    gen.name_shared()
    root_expr = fmt(gen.construct(module), 4, len("model = "))
    classes = gen.classes()
    defined = {c.__name__ for c in classes}
    blocks = []
    for cls in classes:
        t = template_of(cls)
        if t is None:  # construct() only emits registered blocks; this guards a future change
            raise ExportError(f"block {cls.__name__} must be registered with register_block, got none")
        missing = sorted(t.free_names - defined)
        if missing:
            raise ExportError(f"source template of block {cls.__name__} must use only torch, nn, F and exported blocks, got {missing}")
        blocks.append(t.source)
    build_body = [*gen.lines, f"model = {root_expr}"]
    build_body += _ties(module, build_body, blocks, gen.needs_ordered_dict, doc, constants)
    text = _assemble(doc, constants or {}, blocks, build_body, gen.needs_ordered_dict)
    _check(module, text)
    return text


def _ties(module: nn.Module, body: list[str], blocks: list[str], od: bool, doc: str, constants: Mapping[str, Any] | None) -> list[str]:
    """``_tie`` lines for tensors the module shares that the construction does not already share."""
    wanted = sharing_groups(module)
    if not wanted:
        return []
    built = exec_source(_assemble(doc, constants or {}, blocks, body, od))["build"]()
    params = dict(built.named_parameters(remove_duplicate=False))
    lines = []
    for group in wanted:
        src = group[0]
        for dst in group[1:]:
            if src in params and dst in params and params[dst] is not params[src]:
                lines.append(f"_tie(model, {dst!r}, {src!r})")
    return lines


_TIE = '''

def _tie(model: nn.Module, dst: str, src: str) -> None:
    """Makes parameter ``dst`` the same tensor as ``src`` (a tied weight, stored once)."""
    owner, _, leaf = dst.rpartition(".")
    setattr(model.get_submodule(owner), leaf, model.get_parameter(src))
'''

_LOAD = '''

def load(path: str | None = None, device: str = "cpu") -> nn.Module:
    """The trained model in eval mode, weights read from ``model.safetensors`` beside this file."""
    from safetensors.torch import load_model  # the only other package needed, for the weights

    model = build()
    load_model(model, path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.safetensors"), device=device)
    return model.to(device).eval()
'''


def _assemble(doc: str, constants: Mapping[str, Any], blocks: list[str], body: list[str], od: bool) -> str:
    head = [f'"""{doc.strip()}\n"""', "", "from __future__ import annotations", "", "import os"]
    head += ["from collections import OrderedDict"] if od else []
    head += ["", "import torch", "import torch.nn.functional as F", "from torch import nn", ""]
    names = [*constants, *(b.split("(")[0].split()[1] for b in blocks), "build", "load"]
    head.append(f"__all__ = {json.dumps(names)}")
    head += [""] + [f"{k} = {_constant(k, v)}" for k, v in constants.items()]
    parts = ["\n".join(head)] + [b.rstrip() for b in blocks]
    tie = _TIE if any(line.startswith("_tie(") for line in body) else ""
    build = ('def build() -> nn.Module:\n    """The architecture, freshly initialised (``load`` gives the trained weights)."""\n'
             + "\n".join(f"    {line}" for line in body) + "\n    return model\n")
    return "\n\n\n".join(parts) + "\n" + tie + "\n\n" + build + _LOAD


def _constant(name: str, v: Any) -> str:
    if isinstance(v, dict):
        return fmt(Seq("{", "}", [Raw(f"{literal(k)}: {literal(i)}") for k, i in v.items()]), 0, len(name) + 3)
    return literal(v)


def _check(module: nn.Module, text: str) -> None:
    built = exec_source(text)["build"]()
    want = {k: tuple(v.shape) for k, v in module.state_dict(keep_vars=True).items()}
    got = {k: tuple(v.shape) for k, v in built.state_dict(keep_vars=True).items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:6]
        raise ExportError(f"generated source must rebuild the module's state dict exactly, got differences {diff}")
    if sorted(map(sorted, sharing_groups(module))) != sorted(map(sorted, sharing_groups(built))):
        raise ExportError(f"generated source must share tensors as the module does, got {sharing_groups(built)} "
                          f"instead of {sharing_groups(module)}")
