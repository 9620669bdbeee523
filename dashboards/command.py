"""``nas dashboard`` and ``nas report``: the CLI side of the dashboards room.

Registered in :data:`nas.cli.PLUGINS`; ``add_parser`` adds both sub-commands and ``run``
dispatches on ``args.command``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.argtypes import int_arg
from nas.errors import UserInputError

__all__ = ["add_parser", "run"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`--port` must be an integer from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"`--port` must be an integer from 1 to 65535, got {text!r}")
    return port


def add_parser(subparsers: Any) -> None:
    """Adds ``dashboard`` and ``report`` to the ``nas`` sub-command parsers."""
    d = subparsers.add_parser("dashboard", help="browse runs and Pareto fronts in a web app")
    d.add_argument("runs_dir", nargs="?", default="runs", help="folder of run folders (default: runs)")
    d.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1; anything else exposes the runs, which have no login)")
    d.add_argument("--port", type=_port, default=8050, help="port (default 8050)")
    d.add_argument("--poll-ms", type=int_arg("--poll-ms", minimum=1), default=5000,
                   help="how often open pages look for changes in the run folders (default 5000)")

    r = subparsers.add_parser("report", help="one self-contained HTML page of a run")
    r.add_argument("run", help="run id (in --runs-dir) or path to a run folder")
    r.add_argument("-o", "--out", default="report.html", help="output HTML file (default report.html)")
    r.add_argument("--runs-dir", default="runs")
    r.add_argument("--top", type=int_arg("--top", minimum=1), default=20, help="front architectures listed (default 20)")


def run(args: argparse.Namespace) -> int:
    """Runs ``nas dashboard`` or ``nas report``; returns the exit code."""
    if args.command == "report":
        return _report(args)
    return _dashboard(args)


def _report(args: argparse.Namespace) -> int:
    from dashboards.report import write_report
    from nas.store import resolve_run

    path = resolve_run(args.runs_dir, args.run)
    out = Path(args.out)
    if out.is_dir():
        raise UserInputError(f"`--out` must be a file path, got the folder {str(out)!r}")
    write_report(path, out, args.top)
    print(f"report of {path.name} -> {out}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from dashboards.app import serve

    runs = Path(args.runs_dir)
    if not runs.is_dir():
        raise UserInputError(f"`RUNS_DIR` must be an existing folder of run folders, got {str(runs)!r}")
    if args.host not in _LOOPBACK:
        sys.stderr.write(f"nas: warning: serving on {args.host}: anyone who can reach it can browse the runs\n")
    print(f"ShareNAS dashboard on http://{args.host}:{args.port}/ (runs in {runs.resolve()}); Ctrl-C stops it")
    serve(runs, args.host, args.port, args.poll_ms)
    return 0
