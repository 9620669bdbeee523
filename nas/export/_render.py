"""A tiny pretty-printer for generated Python expressions (calls, lists, literals)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

from nas.export.templates import ExportError

__all__ = ["Raw", "Call", "Seq", "fmt", "literal", "WIDTH"]

WIDTH = 110


@dataclass
class Raw:
    """Source text used as is."""

    text: str


@dataclass
class Call:
    """``func(arg, ..., key=value, ...)``."""

    func: str
    args: list[Node]
    kwargs: list[tuple[str, Node]] = field(default_factory=list)


@dataclass
class Seq:
    """A bracketed, comma-separated sequence: ``[a, b]``, ``(a,)``, ``{k: v}``."""

    open: str
    close: str
    items: list[Node]


Node = Union[Raw, Call, Seq]


def _flat(n: Node) -> str:
    if isinstance(n, Raw):
        return n.text
    if isinstance(n, Call):
        parts = [_flat(a) for a in n.args] + [f"{k}={_flat(v)}" for k, v in n.kwargs]
        return f"{n.func}({', '.join(parts)})"
    return n.open + ", ".join(_flat(i) for i in n.items) + n.close


def fmt(n: Node, indent: int, prefix: int = 0) -> str:
    """Formats ``n`` on one line when it fits in :data:`WIDTH`, else one item per line.

    Args:
        n: The expression.
        indent: Indentation of the line the expression starts on.
        prefix: Characters already on that line before the expression (e.g. ``name = ``).
    """
    flat = _flat(n)
    if isinstance(n, Raw) or indent + prefix + len(flat) <= WIDTH:
        return flat
    inner = " " * (indent + 4)
    if isinstance(n, Call):
        items = [fmt(a, indent + 4) for a in n.args] + [f"{k}={fmt(v, indent + 4, len(k) + 1)}" for k, v in n.kwargs]
        return f"{n.func}(\n" + "".join(f"{inner}{i},\n" for i in items) + " " * indent + ")"
    items = [fmt(i, indent + 4) for i in n.items]
    return n.open + "\n" + "".join(f"{inner}{i},\n" for i in items) + " " * indent + n.close.lstrip(",")


def literal(v: Any) -> str:
    """Python source of a plain value (numbers, strings, booleans, ``None`` and containers of them).

    Raises:
        ExportError: for values that have no literal form (tensors, objects).
    """
    if v is None or isinstance(v, (bool, int, str)):
        return repr(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"float({str(v)!r})"
    if isinstance(v, tuple):
        inner = ", ".join(literal(i) for i in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(literal(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(i)}" for k, i in v.items()) + "}"
    raise ExportError(f"constructor value must be a plain literal to be written as source, got {type(v).__name__} {v!r:.60}")
