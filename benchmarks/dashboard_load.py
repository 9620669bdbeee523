"""Dashboard responsiveness with a large run: page-load time of a run page with 5,000 trials.

The harness writes a run folder in the store's format with ``trials`` rows (architectures drawn
from the registered ``cnn1d`` space with a seeded generator; metrics from a seeded size model:
accuracy rises and latency grows with the subnet's size, with noise, plus a predicted accuracy
column and a latency constraint so that every figure has data). It then measures:

- server side: the first (cold) read of the run with its Pareto front and hypervolume, a cached
  read, and building each figure and table of the run page;
- in headless Chromium (``/usr/bin/chromium`` through playwright, when present): the time from
  navigation to a run page whose front graph shows all its front points, whose trials table
  shows its first page and whose metadata is shown, ``repeats`` times, interleaved with the
  page of a small run (``small_trials``) as the baseline of the same session on the same
  (shared) machine; and how many times a run was recomputed while serving those loads (0: the
  Pareto front is computed once per change of the run's files, not per page or per point).

Run: ``nas bench dashboard_load [--trials 5000] [--repeats 3]``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nas.checkpoint import atomic_write_bytes
from nas.errors import invalid
from nas.store import RunStore

__all__ = ["make_run", "run", "CHROMIUM", "FRONT_RENDERED_JS"]

CHROMIUM = "/usr/bin/chromium"
# True once the front graph has drawn exactly ``n`` points in its "Pareto front" trace.
FRONT_RENDERED_JS = """n => {
  const g = document.querySelector('#front-graph .js-plotly-plot');
  if (!g || !g._fullData) return false;
  const i = g._fullData.findIndex(d => (d.name || '').startsWith('Pareto front'));
  if (i < 0 || g._fullData[i].x.length !== n) return false;
  return g.querySelectorAll('.scatterlayer .point').length >= n;
}"""


def _rows(n: int, seed: int, latency_cap: float) -> list[dict[str, Any]]:
    import search_spaces  # noqa: F401  (registers cnn1d)
    from nas.catalog import SPACES

    space = SPACES.get("cnn1d").build_space()
    rng = np.random.default_rng(seed)
    rows = []
    t = time.time() - n * 0.5
    for i in range(n):
        arch = space.sample(rng)
        values = arch.to_dict()
        size = sum(float(v) for k, v in values.items() if k.endswith((".width", ".depth", ".kernel")))
        acc = float(np.clip(0.55 + 0.4 * (1 - np.exp(-size / 120)) + rng.normal(0, 0.02), 0, 1))
        lat = float(0.05 + size * 0.004 * rng.lognormal(0, 0.1))
        t += float(rng.uniform(0.2, 0.8))
        rows.append({"trial": i, "arch_id": arch.arch_id, "arch": arch.to_json(), "state": "complete", "error": "",
                     "worker": f"w{i % 2}", "attempts": 1, "seed": i, "wall_s": 0.4, "finished_at": t,
                     "accuracy": acc, "test_accuracy": acc - 0.01, "latency_ms": lat, "params": size * 100.0,
                     "macs": size * 1000.0, "predicted_accuracy": acc + float(rng.normal(0, 0.02)),
                     "violation": lat - latency_cap, "feasible": lat <= latency_cap})
    return rows


def make_run(runs_dir: str | Path, trials: int = 5000, seed: int = 0, run_id: str = "bench-5000",
             latency_cap: float = 0.8) -> Path:
    """Writes a finished run folder with ``trials`` synthetic evaluation rows; returns it.

    Raises:
        ConfigError: when ``trials`` is smaller than 2.
    """
    if trials < 2:
        raise invalid("trials", "be at least 2", trials)
    from nas.results import front_payload, objectives_of

    config = {"space": "cnn1d", "task": "mnist1d", "strategy": "nsga2", "device": "cpu", "budget": str(trials),
              "objectives": "accuracy:max,latency_ms:min", "constraints": [f"latency_ms<={latency_cap}"], "seed": seed}
    store = RunStore.create(runs_dir, run_id, config, {"seeds": {"run": seed}, "host": platform.node()})
    buf = io.BytesIO()
    pd.DataFrame(_rows(trials, seed, latency_cap)).to_parquet(buf, index=False)
    atomic_write_bytes(store.file("trials.parquet"), buf.getvalue())
    store.write_json("front.json", front_payload(store, objectives_of(store)))
    store.update_manifest(status="finished", spent={"evaluations": trials, "failed": 0, "seconds": trials * 0.5,
                                                    "train_s": 0.0})
    return store.path


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _server_side(path: Path) -> dict[str, float]:
    from dashboards.data import RunCache
    from dashboards.front import _front_info, front_figure
    from dashboards.history import _hv_history_info, hv_figure
    from dashboards.tables import _trials_page_info, trials_frame

    import plotly.graph_objects as go

    go.Figure(go.Scatter(x=[0], y=[0]), layout={"template": "plotly_white"}).to_plotly_json()  # one-off imports
    cache = RunCache()
    view, cold = _timed(lambda: cache.get(path))
    _, warm = _timed(lambda: cache.get(path))
    _, front_s = _timed(lambda: front_figure(_front_info(view, ("accuracy", "latency_ms"))))
    _, hv_s = _timed(lambda: hv_figure(_hv_history_info(view)))
    _, table_s = _timed(lambda: _trials_page_info(trials_frame(view), 0, 20))
    return {"view_cold_s": cold, "view_cached_s": warm, "front_figure_s": front_s, "hv_history_s": hv_s,
            "trials_page_s": table_s, "front_size": float(len(view.front))}


def _page_load(browser: Any, url: str, front_size: int) -> float:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_function(FRONT_RENDERED_JS, arg=front_size, timeout=180_000)
        page.wait_for_selector("#trials-table td", timeout=180_000)
        page.wait_for_selector("#run-meta-table", timeout=180_000)
        return time.perf_counter() - t0
    finally:
        page.close()


def _browser(paths: dict[str, Path], repeats: int) -> dict[str, Any]:
    """Page loads of each run's page, interleaved (big, small, big, small, ...)."""
    from playwright.sync_api import sync_playwright

    from dashboards.app import background_server, create_app
    from dashboards.data import RunCache

    root = next(iter(paths.values())).parent
    cache = RunCache()
    app = create_app(root, poll_ms=600_000, cache=cache)
    fronts = {k: len(cache.get(p).front) for k, p in paths.items()}
    before = cache.loads
    loads: dict[str, list[float]] = {k: [] for k in paths}
    with background_server(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            for _ in range(repeats):
                for key, path in paths.items():
                    loads[key].append(_page_load(browser, f"{base}/run/{path.name}", fronts[key]))
        finally:
            browser.close()
    out: dict[str, Any] = {f"{k}_page_load_s": v for k, v in loads.items()}
    out |= {f"{k}_page_load_median_s": statistics.median(v) for k, v in loads.items()}
    big, small = (statistics.median(v) for v in loads.values())
    out["ratio_large_to_small"] = big / small
    out["run_recomputations_while_serving"] = cache.loads - before  # 0: the front was computed once
    return out


def run(trials: int = 5000, repeats: int = 3, seed: int = 0, browser: bool = True, small_trials: int = 50,
        out: str | None = None) -> dict[str, Any]:
    """Measures the dashboard with a run of ``trials`` trials against one of ``small_trials``.

    Args:
        trials: Trials in the large synthetic run.
        repeats: Page loads of each run's page measured in the browser (interleaved).
        seed: Seed of the synthetic run.
        browser: Also measure real page loads in headless Chromium (skipped when it is missing).
        small_trials: Trials in the small run whose page load is the baseline (same session).
        out: If given, the JSON result is written there.

    Returns:
        Settings, server-side seconds per step and browser page-load seconds.
    """
    if repeats < 1:
        raise invalid("repeats", "be positive", repeats)
    with tempfile.TemporaryDirectory(prefix="dash-bench") as tmp:
        path = make_run(Path(tmp) / "runs", trials, seed)
        small = make_run(Path(tmp) / "runs", small_trials, seed, run_id=f"bench-{small_trials}")
        result: dict[str, Any] = {"benchmark": "dashboard_load", "trials": trials, "small_trials": small_trials,
                                  "repeats": repeats, "seed": seed,
                                  "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                              "load_average_before": os.getloadavg()},
                                  "server": _server_side(path)}
        if browser and Path(CHROMIUM).exists():
            result["browser"] = _browser({"large": path, "small": small}, repeats)
        else:
            result["browser"] = {"skipped": f"{CHROMIUM} missing" if browser else "browser=False"}
        result["machine"]["load_average_after"] = os.getloadavg()
    if out:
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n")
    return result
