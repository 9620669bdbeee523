"""The ``nas`` command line: the only module that wires every room together.

Bad input (a :class:`~nas.errors.UserInputError`, including argparse's own errors) prints one
line ``nas: error: ...`` on stderr and exits with code 2, before any run folder is created.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from nas.argtypes import float_arg, int_arg
from nas.errors import UserInputError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"nas: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    p = _Parser(prog="nas", description="ShareNAS: hardware-aware NAS with weight-entangled supernets.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("search", help="launch a search with a budget")
    s.add_argument("--config", help="YAML config file (defaults: the built-in default task)")
    s.add_argument("--space", help="registered space name (e.g. cnn1d)")
    s.add_argument("--task", help="registered task name (e.g. mnist1d)")
    s.add_argument("--budget", help="evaluations (300) or wall-clock time (10m, 90s, 1h)")
    s.add_argument("--objectives", help="e.g. accuracy:max,latency_ms:min")
    s.add_argument("--constraint", action="append", dest="constraints", help="e.g. latency_ms<=2.5 (repeatable)")
    s.add_argument("--device", help="where latency comes from: cpu (measured here), cpu-torch, cpu-ts, cpu-ort, "
                                    "cuda, ray:<resource>[:<device>], or a table space's device")
    s.add_argument("--latency-mode", help="auto | measure (time every subnet) | model (device latency model)")
    s.add_argument("--strategy", help="predictor (default) | nsga2 | nsga3 | tpe | gp | random")
    s.add_argument("--ray-address", help="join an existing Ray cluster instead of starting one")
    s.add_argument("--storage", help="SQLAlchemy URL of a study shared by several drivers (e.g. postgresql://...)")
    s.add_argument("--study", help="study name inside --storage (drivers with the same name share it)")
    s.add_argument("--executor", help="ray (default) or local (in-process)")
    s.add_argument("--workers", type=int_arg("--workers"), help="Ray evaluation workers")
    s.add_argument("--epochs", type=int_arg("--epochs"), help="supernet training epochs")
    s.add_argument("--sharing", help="how layers share: none (default) | npas | ensemble | branching | gm-split")
    s.add_argument("--param-budget", type=float_arg("--param-budget", positive=True),
                   help="NPAS parameter budget: a fraction of the natural size (0.25) or a count (50000)")
    s.add_argument("--runs-dir", help="folder of run folders (default: runs)")
    s.add_argument("--name", help="prefix of the run id")
    s.add_argument("--seed", type=int_arg("--seed"), help="run seed")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    r = sub.add_parser("resume", help="continue a stopped or crashed run")
    r.add_argument("run", help="run id (in --runs-dir) or path to a run folder")
    r.add_argument("--runs-dir", default="runs")
    r.add_argument("--quiet", action="store_true")

    lst = sub.add_parser("runs", help="list runs, or show one")
    lst.add_argument("action", nargs="?", default="list", choices=["list", "show"])
    lst.add_argument("run", nargs="?")
    lst.add_argument("--runs-dir", default="runs")

    f = sub.add_parser("front", help="the Pareto table of a run")
    f.add_argument("run")
    f.add_argument("--runs-dir", default="runs")
    f.add_argument("--format", default="table", choices=["table", "csv", "json"])

    for module in _plugins():
        module.add_parser(sub)
    return p


# Sub-commands that live beside their room: module -> the commands its ``add_parser`` adds.
# Each module has ``add_parser(subparsers)`` and ``run(args) -> int`` (exit code).
PLUGINS: dict[str, tuple[str, ...]] = {
    "nas.bench_command": ("bench",),
    "dashboards.command": ("dashboard", "report"),
    "nas.profiling.command": ("profile",),
    "nas.export.command": ("export",),
}


def _plugins() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in PLUGINS]


def _plugin_for(command: str) -> Any | None:
    import importlib

    for name, commands in PLUGINS.items():
        if command in commands:
            return importlib.import_module(name)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script and ``python -m nas``."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UserInputError as e:
        sys.stderr.write(f"nas: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("nas: interrupted; `nas resume RUN` continues the run\n")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    import search_spaces  # noqa: F401  (registers the built-in spaces and tasks)

    if args.command == "search":
        return _search(args)
    if args.command == "resume":
        return _resume(args)
    if args.command == "runs":
        return _runs(args)
    plugin = _plugin_for(args.command)
    if plugin is not None:
        return int(plugin.run(args))
    return _front(args)


def _search(args: argparse.Namespace) -> int:
    from nas.config import load_config
    from nas.runner import check_names, new_run

    overrides: dict[str, Any] = {
        "space": args.space, "task": args.task, "budget": args.budget, "objectives": args.objectives,
        "constraints": args.constraints, "device": args.device, "latency_mode": args.latency_mode, "strategy": args.strategy,
        "execution.ray_address": args.ray_address, "execution.executor": args.executor,
        "execution.workers": args.workers, "train.epochs": _epochs(args), "runs_dir": args.runs_dir,
        "name": args.name, "seed": args.seed, "storage": args.storage, "study": args.study,
        "sharing.kind": args.sharing, "sharing.param_budget": args.param_budget,
    }
    cfg = load_config(args.config, overrides)
    if args.space and not args.task:
        cfg = dataclasses.replace(cfg, task=None)  # the space's default task, not the config's
    check_names(cfg)  # everything validated before the run folder exists
    store = new_run(cfg)
    print(f"run {store.run_id} -> {store.path}")
    return _run(store, args.quiet)


def _epochs(args: argparse.Namespace) -> int | None:
    """``--epochs``; without it and without ``--config``, the space's own default (if it has one)."""
    if args.epochs is not None or args.config is not None or not args.space:
        return args.epochs
    from nas.catalog import SPACES

    return SPACES.get(args.space, "space").default_epochs


def _resume(args: argparse.Namespace) -> int:
    from nas.store import RunStore, resolve_run

    store = RunStore(resolve_run(args.runs_dir, args.run))
    status = store.manifest().get("status")
    if status == "finished":
        print(f"run {store.run_id} already finished; nothing to resume")
        return 0
    print(f"resuming run {store.run_id} (status: {status})")
    return _run(store, args.quiet)


def _run(store: Any, quiet: bool) -> int:
    from nas.cli_display import Display, print_front
    from nas.runner import execute

    with Display(quiet) as display:
        outcome = execute(store, display.hooks())
    print(f"search stopped: {outcome.reason}")
    print_front(store)
    print(f"run folder: {store.path}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from nas.cli_display import print_runs, print_run
    from nas.store import RunStore, resolve_run

    if args.action == "show":
        if not args.run:
            raise UserInputError("`run` must be given with `nas runs show`, got nothing")
        print_run(RunStore(resolve_run(args.runs_dir, args.run)))
        return 0
    print_runs(args.runs_dir)
    return 0


def _front(args: argparse.Namespace) -> int:
    from nas.cli_display import front_table
    from nas.store import RunStore, resolve_run

    store = RunStore(resolve_run(args.runs_dir, args.run))
    df = front_table(store)
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(json.dumps(df.to_dict("records"), indent=2) + "\n")
    else:
        from nas.cli_display import print_front

        print_front(store)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
