"""Source templates of custom blocks: how a space's static modules are written into ``model.py``.

``torch.nn`` layers (convolutions, norms, linear, activations, containers) are rendered from
their constructor signature. A space's own static blocks (``StaticBlock``, a trunk with heads,
...) declare a template once::

    register_block(StaticBlock)                          # source: the class's own source text
    register_block(MyHead, args=lambda m: {"dim": m.dim, "body": list(m.body)})

The template's source must reference only ``torch``, ``nn``, ``F``, builtins and other
registered blocks, so that ``model.py`` runs without ShareNAS. This module stays light (no
heavy imports) because spaces import it at registration time.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from nas.errors import NASError

__all__ = ["BlockTemplate", "ExportError", "register_block", "template_of", "infer_args", "ALLOWED_GLOBALS"]

ALLOWED_GLOBALS = frozenset({"torch", "nn", "F", "OrderedDict", "annotations"})

ArgsFn = Callable[[nn.Module], Mapping[str, Any]]


class ExportError(NASError):
    """A module tree cannot be written as standalone source, or the written source disagrees."""


@dataclass(frozen=True)
class BlockTemplate:
    """How one custom block class is written into ``model.py``.

    Attributes:
        cls: The static block class.
        source: Its class definition (``class Name(nn.Module): ...``) as standalone source.
        args: Returns the constructor keyword arguments of an instance; values may be modules,
            lists/tuples/dicts of modules, or literals (numbers, strings, booleans, ``None``).
        free_names: Global names the source uses (checked against what ``model.py`` defines).
    """

    cls: type
    source: str
    args: ArgsFn
    free_names: frozenset[str]

    @property
    def name(self) -> str:
        """The class name used in ``model.py``."""
        return self.cls.__name__


_TEMPLATES: dict[type, BlockTemplate] = {}


def register_block(cls: type, *, source: str | None = None, args: ArgsFn | None = None) -> type:
    """Declares the source template of a static block class (usable as a class decorator).

    Args:
        cls: An ``nn.Module`` subclass whose instances appear in exported (static) modules.
        source: The class's standalone source; default: its own source text (decorators dropped).
        args: Constructor arguments of an instance; default: :func:`infer_args`.

    Returns:
        ``cls`` unchanged.

    Raises:
        ExportError: when ``cls`` is no module class, is registered twice with another source,
            or its source does not define it.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ExportError(f"`cls` must be an nn.Module subclass, got {cls!r}")
    text = textwrap.dedent(source if source is not None else inspect.getsource(cls))
    tree = ast.parse(text)
    defs = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    if len(defs) != 1 or defs[0].name != cls.__name__:
        raise ExportError(f"`source` of block {cls.__name__} must define exactly class {cls.__name__}, got {[d.name for d in defs]}")
    # ``lineno`` is the ``class`` line itself: decorators (e.g. ``@register_block``) are left out.
    body = "\n".join(text.splitlines()[defs[0].lineno - 1 : defs[0].end_lineno])
    template = BlockTemplate(cls, body.rstrip() + "\n", args or infer_args, _free_names(defs[0]))
    old = _TEMPLATES.get(cls)
    if old is not None and old.source != template.source:
        raise ExportError(f"block `{cls.__name__}` must be registered once, got a second, different template")
    _TEMPLATES[cls] = template
    return cls


def template_of(cls: type) -> BlockTemplate | None:
    """The registered template of ``cls`` (``None`` when it has none)."""
    return _TEMPLATES.get(cls)


def infer_args(module: nn.Module) -> dict[str, Any]:
    """Constructor arguments read back from the instance: ``__init__(self, a, b)`` → ``self.a, self.b``.

    A parameter annotated ``list[...]`` whose attribute is a ``Sequential``/``ModuleList`` is
    passed as a list of its children (the common ``self.x = nn.Sequential(*x)`` idiom).

    Raises:
        ExportError: naming the block and parameter when an attribute is missing.
    """
    sig = inspect.signature(type(module).__init__)
    out: dict[str, Any] = {}
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ExportError(f"block `{type(module).__name__}` must declare `args` to be exported, got *{name} in its __init__")
        if not hasattr(module, name):
            if p.default is not p.empty:
                continue
            raise ExportError(
                f"block `{type(module).__name__}` must keep constructor argument `{name}` as an attribute "
                f"(or register it with `args=`), got no attribute `{name}`"
            )
        value = getattr(module, name)
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        if isinstance(value, (nn.Sequential, nn.ModuleList)) and str(ann).lower().startswith(("list", "sequence", "tuple")):
            value = list(value)
        out[name] = value
    return out


class _Names(ast.NodeVisitor):
    """Collects names loaded and bound in a class definition (annotations skipped)."""

    def __init__(self) -> None:
        self.loaded: set[str] = set()
        self.bound: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:  # noqa: N802
        (self.loaded if isinstance(node.ctx, ast.Load) else self.bound).add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.bound.add(node.arg)  # annotation deliberately not visited

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802
        self.bound.add(node.name)
        for d in node.decorator_list:
            self.visit(d)
        self.visit(node.args)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:  # noqa: N802
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_arguments(self, node: ast.arguments) -> None:
        for a in (*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg):
            if a is not None:
                self.visit_arg(a)
        for d in (*node.defaults, *node.kw_defaults):
            if d is not None:
                self.visit(d)

    def visit_alias(self, node: ast.alias) -> None:
        self.bound.add((node.asname or node.name).split(".")[0])


def _free_names(cls_def: ast.ClassDef) -> frozenset[str]:
    v = _Names()
    for base in cls_def.bases:
        v.visit(base)
    for stmt in cls_def.body:
        v.visit(stmt)
    return frozenset(v.loaded - v.bound - set(dir(builtins)) - ALLOWED_GLOBALS)
