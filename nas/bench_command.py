"""``nas bench NAME [--option value ...]``: run a benchmark harness of ``benchmarks/``."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
from typing import Any

from nas.errors import UserInputError, invalid

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Adds the ``bench`` sub-command."""
    p = sub.add_parser("bench", help="run a benchmark harness (results as JSON under benchmarks/results/)")
    p.add_argument("name", help="benchmark name (e.g. throughput, ranking, search, predictors)")
    p.add_argument("options", nargs=argparse.REMAINDER, help="--option value pairs passed to the harness")


def _convert(name: str, text: str, default: Any) -> Any:
    if isinstance(default, (tuple, list)):
        inner = default[0] if default else ""
        return tuple(_convert(name, part.strip(), inner) for part in text.split(",") if part.strip())
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise invalid(f"--{name}", "be true or false", text)
        return text.lower() in ("true", "1")
    for typ in (int, float):
        if isinstance(default, typ):
            try:
                return typ(text)
            except ValueError:
                raise invalid(f"--{name}", f"be {'an integer' if typ is int else 'a number'}", text) from None
    return text


def parse_options(fn: Any, tokens: list[str]) -> dict[str, Any]:
    """Maps ``--key-name value`` tokens onto ``fn``'s keyword arguments, typed by their defaults."""
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or i + 1 >= len(tokens):
            raise invalid("options", "be --name value pairs", " ".join(tokens[i:]))
        key = tok[2:].replace("-", "_")
        if key not in params:
            raise invalid("options", f"name options among {sorted(k for k in params)}", tok)
        default = params[key].default
        kwargs[key] = _convert(key, tokens[i + 1], default if default is not inspect.Parameter.empty else "")
        i += 2
    return kwargs


def run(args: argparse.Namespace) -> int:
    """Runs the named harness and prints its JSON summary."""
    from benchmarks import BENCHMARKS, RESULTS_DIR

    if args.name not in BENCHMARKS:
        raise UserInputError(f"`name` must be one of {sorted(BENCHMARKS)}, got {args.name!r}")
    module = importlib.import_module(BENCHMARKS[args.name])
    kwargs = parse_options(module.run, list(args.options))
    if "out" in inspect.signature(module.run).parameters:
        kwargs.setdefault("out", str(RESULTS_DIR / f"{args.name}.json"))
    result = module.run(**kwargs)
    print(json.dumps(result, indent=2, default=str)[:20000])
    if kwargs.get("out"):
        print(f"results written to {kwargs['out']}")
    return 0
