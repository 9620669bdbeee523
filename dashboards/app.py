"""The Dash app of ``nas dashboard``: runs, one run, compare runs.

Pages: ``/`` (runs list), ``/run/<run-id>`` (one run), ``/compare?runs=a,b`` (fronts overlaid).
Every other path, and a ``/run/`` path whose id is not a run folder directly inside the runs
folder (``../../etc/passwd`` included), is answered 404 by the server before Dash sees it. The
app only reads run folders (JSON, safe YAML, parquet) and never executes anything from them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from dash import Dash, Input, Output
from flask import abort, request

from dashboards.callbacks import register_callbacks
from dashboards.data import RunCache, list_runs, safe_run_path
from dashboards.layout import compare_page, not_found_page, run_page, runs_page, shell
from nas.errors import invalid

__all__ = ["create_app", "serve", "background_server", "INTERNAL_PREFIXES"]

INTERNAL_PREFIXES = ("/_dash-", "/_dash", "/_favicon", "/_reload-hash", "/assets/")
_RUN_PATH = re.compile(r"^/run/([^/]+)/?$")
_PAGES = ("/", "/compare")


def create_app(runs_dir: str | Path, poll_ms: int = 5000, cache: RunCache | None = None) -> Dash:
    """Builds the dashboard over the run folders inside ``runs_dir``.

    Args:
        runs_dir: Folder of run folders (read only).
        poll_ms: How often open pages poll the run folders for changes, in milliseconds.
        cache: Run views shared by the callbacks (a new one by default).

    Raises:
        ConfigError: when ``poll_ms`` is not positive.
    """
    if poll_ms <= 0:
        raise invalid("poll_ms", "be a positive number of milliseconds", poll_ms)
    root = Path(runs_dir).resolve()
    cache = cache or RunCache()
    app = Dash(__name__, title="ShareNAS", suppress_callback_exceptions=True, update_title=None,
               serve_locally=True)
    app.layout = shell(poll_ms)
    _guard_routes(app, root)

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def route(pathname: str | None, search: str | None) -> Any:
        return page_for(root, cache, pathname or "/", search or "")

    register_callbacks(app, root, cache)
    app.server.config["SHARENAS_RUNS_DIR"] = str(root)
    return app


def page_for(root: Path, cache: RunCache, pathname: str, search: str = "") -> Any:
    """The page component of a path (the not-found page for anything unknown)."""
    if pathname in ("/", ""):
        return runs_page()
    if pathname.rstrip("/") == "/compare":
        ids = [p.name for p in list_runs(root)]
        wanted = [r for r in ",".join(parse_qs(search.lstrip("?")).get("runs", [])).split(",") if r in ids]
        selected = wanted or ids[:2]
        metrics: list[str] = []
        for r in selected:
            path = safe_run_path(root, r)
            if path is not None:
                metrics += [m for m in cache.get(path).metrics() if m not in metrics]
        return compare_page(ids, selected, metrics)
    m = _RUN_PATH.match(pathname)
    path = safe_run_path(root, m[1]) if m else None
    if path is None:
        return not_found_page(f"no run at {pathname!r}")
    return run_page(cache.get(path))


def _guard_routes(app: Dash, root: Path) -> None:
    """Answers 404 for every path that is neither a page, a run page of a real run nor Dash's own."""

    @app.server.before_request
    def guard() -> None:
        path = request.path
        if path in _PAGES or path.startswith(INTERNAL_PREFIXES) or path == "/compare/":
            return None
        m = _RUN_PATH.match(path)
        if m and safe_run_path(root, m[1]) is not None:
            return None
        abort(404)


def serve(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8050, poll_ms: int = 5000) -> None:
    """Serves the dashboard until interrupted (threaded Flask server, no debug, no reloader)."""
    app = create_app(runs_dir, poll_ms)
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


@contextmanager
def background_server(app: Dash, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves ``app`` from a thread on a free port of ``host``; yields the base URL (for tests)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """No access log: tests and benchmarks keep their output readable."""

    server = make_server(host, 0, app.server, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
