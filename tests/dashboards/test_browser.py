"""The dashboard and the report in a real browser: Debian's Chromium driven by playwright.

A real tiny cnn1d run is made by the real path (``new_run`` + ``execute`` with the local
executor; only training is replaced by the session's trained tiny supernet), served by the app
on 127.0.0.1 from a thread, and browsed: the runs page lists it, the run page draws its front
with the right number of points, clicking a point draws its architecture, clicking a table row
selects another trial and diffs the two, the sharing plan (an ensemble-style plan over the real
supernet's layers) is drawn with its facts, the export button writes an export folder, and a row added to the run (as a running
search adds them) reaches the open page by polling; the compare page overlays the run's front;
the ``nas report`` file opens offline with its front drawn. Screenshots go to ``test-artifacts/dashboard/`` (git-ignored).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmarks.dashboard_load import CHROMIUM, FRONT_RENDERED_JS
from nas.sharing import PLAN_FILE
from tests.conftest import REPO, TINY

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (make test installs chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="python package playwright missing"),
]

ARTIFACTS = REPO / "test-artifacts" / "dashboard"

# Page coordinates of point ``i`` of the front trace (plotly's axis conversions + the graph's box).
POINT_XY_JS = """i => {
  const g = document.querySelector('#front-graph .js-plotly-plot');
  const k = g._fullData.findIndex(d => (d.name || '').startsWith('Pareto front'));
  const t = g._fullData[k], xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
  const box = g.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(t.x[i]), y: box.top + ya._offset + ya.d2p(t.y[i]),
          trial: t.customdata[i]};
}"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, trained_cnn1d) -> tuple[Path, str]:
    """A finished tiny cnn1d run: ``(runs_dir, run_id)``."""
    from nas.checkpoint import save_checkpoint
    from nas.config import load_config
    from nas.runner import execute, new_run

    runs = tmp_path_factory.mktemp("browser_runs")
    overrides = {"runs_dir": str(runs), "budget": "5", "execution.executor": "local", "name": "web", "strategy": "nsga2",
                 "eval.calib_batches": TINY["eval"]["calib_batches"], "eval.score_test": False,
                 "eval.latency.warmup": 3, "eval.latency.repeats": 10}
    store = new_run(load_config(None, overrides))
    save_checkpoint(store.file("supernet.safetensors"), trained_cnn1d.state_dict(), {"space": "cnn1d", "epochs": 2})
    store.update_manifest(trained=True)
    store.write_json(PLAN_FILE, _ensemble_plan(trained_cnn1d).to_dict())
    execute(store)
    return runs, store.run_id


def _ensemble_plan(net):
    """An ensemble-style plan over the real supernet's layers (``plan_from_supernet``): the first
    three layers a shared trunk, two members with their own copies of the rest, and one bank group
    that both members' last layers draw on."""
    from nas.sharing import SharingPlan, plan_from_supernet

    layers = list(plan_from_supernet(net).graph.nodes(data=True))
    plan = SharingPlan("ensemble", {"K": 2, "split": 3})
    trunk = [plan.add_layer("shared", slot, group=a["group"], source=a["source"], params=a["params"], op=a["op"])
             for (_, slot), a in layers[:3]]
    plan.chain(trunk)
    for m in ("m0", "m1"):
        body = [plan.add_layer(m, slot, group=f"{m}.{a['group']}", source=a["source"], params=a["params"], op=a["op"])
                for (_, slot), a in layers[3:-1]]
        (_, last), a = layers[-1]
        head = plan.add_layer(m, last, group="heads", source="bank", params=a["params"], op=a["op"])
        plan.chain([trunk[-1], *body, head])
    return plan


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _click_front_point(page, i: int, tries: int = 3) -> int:
    """Clicks point ``i`` of the front until the page shows it selected (at most ``tries`` clicks:
    a late layout shift on a loaded machine can move the graph between measuring and clicking)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        # mouse clicks land inside the viewport only: centre the graph first
        page.evaluate("() => document.getElementById('front-graph').scrollIntoView({block: 'center'})")
        xy = page.evaluate(POINT_XY_JS, i)
        page.mouse.move(xy["x"], xy["y"])
        page.mouse.click(xy["x"], xy["y"])
        try:
            page.wait_for_selector(f"#arch-selected:has-text('trial {int(xy['trial'])}')", timeout=20_000)
            return int(xy["trial"])
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"clicking front point {i} did not select it after {tries} clicks")


def _add_dominating_row(run: Path) -> None:
    """Appends a row that dominates every other one (the front shrinks to it)."""
    from nas.store import RunStore

    store = RunStore(run)
    rows = store.rows()
    best = dict(rows[0]) | {"trial": max(r["trial"] for r in rows) + 1,
                            "accuracy": max(r["accuracy"] for r in rows) + 1.0,
                            "latency_ms": min(r["latency_ms"] for r in rows) / 2}
    store.add_row(best)


PLAN_TRACES_JS = """() => { const g = document.querySelector('#plan-graph .js-plotly-plot');
  if (!g || !g._fullData) return null;
  return {names: g._fullData.map(d => d.name),
          markers: g._fullData.filter(d => d.name.startsWith('source: ')).reduce((n, d) => n + d.x.length, 0),
          dashed: g._fullData.filter(d => d.line && d.line.dash === 'dash').length,
          rows: g._fullLayout.yaxis.ticktext, title: g._fullLayout.title.text}; }"""


def _check_plan(page, view) -> None:
    """The plan card draws the run's sharing plan: members as rows, one legend entry per source
    kind, the shared bank group dashed, and the plan's facts in a table."""
    from dashboards.planview import _plan_info

    info = _plan_info(view.sharing_plan)
    page.wait_for_function("n => { const g = document.querySelector('#plan-graph .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.filter(d => (d.name || '').startsWith('source: '))"
                           ".reduce((k, d) => k + d.x.length, 0) === n; }", arg=len(info.nodes), timeout=60_000)
    drawn = page.evaluate(PLAN_TRACES_JS)
    assert drawn["rows"] == ["shared", "m0", "m1"] and drawn["dashed"] == 1
    assert {"data flow", "shared group", "source: bank", "source: slice"} <= set(drawn["names"])
    assert drawn["title"].startswith("Sharing plan: ensemble")
    facts = page.inner_text("#plan-facts")
    assert "stored params" in facts and "split" in facts and f"{view.sharing_plan['meta']['K']}" in facts
    page.evaluate("() => document.getElementById('plan-graph').scrollIntoView({block: 'center'})")
    _shot(page, "3b-sharing-plan.png")


def test_dashboard_in_chromium(real_run, browser) -> None:
    from dashboards.app import background_server, create_app
    from dashboards.archview import _arch_graph_info
    from dashboards.data import RunCache
    from dashboards.front import _compare_info
    from dashboards.tables import arch_values

    runs, run_id = real_run
    cache = RunCache()
    view = cache.get(runs / run_id)
    n_front = len(view.front)
    assert n_front >= 1, "the tiny run must have a front"
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    with background_server(create_app(runs, poll_ms=2000, cache=cache)) as base:
        assert base.startswith("http://127.0.0.1:")
        page.goto(base + "/")
        page.wait_for_selector(f"#runs-table a:has-text('{run_id}')", timeout=60_000)
        assert "finished" in page.inner_text("#runs-table")
        _shot(page, "1-runs.png")

        page.click(f"#runs-table a:has-text('{run_id}')")
        page.wait_for_function(FRONT_RENDERED_JS, arg=n_front, timeout=60_000)
        drawn = page.evaluate("() => document.querySelector('#front-graph .js-plotly-plot')._fullData"
                              ".find(d => d.name.startsWith('Pareto front')).x.length")
        assert drawn == n_front
        page.wait_for_selector("#trials-table td", timeout=60_000)
        _shot(page, "2-run.png")

        page.wait_for_selector("#run-meta-table", timeout=60_000)
        first = _click_front_point(page, 0)
        values = arch_values(view.trials.loc[view.trials["trial"] == first, "arch"].iloc[0])
        expected = len(_arch_graph_info(values).nodes)
        page.wait_for_function("n => { const g = document.querySelector('#arch-graph .js-plotly-plot');"
                               " return g && g._fullData && g._fullData.some(d => d.name === 'blocks'"
                               " && d.x.length === n); }", arg=expected, timeout=60_000)
        _shot(page, "3-architecture.png")

        _check_plan(page, view)

        second = 1 if first == 0 else 0  # a table row selects too (rows are in trial order)
        page.click(f"#trials-table tbody tr:nth-child({3 + second}) td[data-dash-column='arch_id']")
        page.wait_for_selector(f"#arch-selected:has-text('trial {second} ')", timeout=60_000)
        page.wait_for_selector("#arch-diff-table", timeout=60_000)
        assert f"trial {first}" in page.inner_text("#arch-diff")

        page.click("#export-button")
        page.wait_for_selector("#export-status:has-text('export')", timeout=180_000)
        status = page.inner_text("#export-status")
        _shot(page, "4-export.png")

        _add_dominating_row(runs / run_id)  # as a running search would: the open page follows
        total = len(view.trials) + 1
        page.wait_for_selector(f"#trials-summary:has-text('of {total} trials')", timeout=60_000)
        page.wait_for_function(FRONT_RENDERED_JS, arg=1, timeout=60_000)


        series = _compare_info([cache.get(runs / run_id)], ("accuracy", "latency_ms")).series
        page.goto(f"{base}/compare?runs={run_id}")
        page.wait_for_function("n => { const g = document.querySelector('#compare-graph .js-plotly-plot');"
                               " return g && g._fullData && g._fullData.length === 1 && g._fullData[0].x.length === n; }",
                               arg=len(series[0].x), timeout=60_000)
        _shot(page, "5-compare.png")
    assert status.startswith(f"exported trial {second} to "), status
    folder = Path(status.split(" to ", 1)[1].strip())
    assert folder.is_dir() and (folder / "arch.json").is_file() and (folder / "model.py").is_file()
    assert folder.resolve().is_relative_to((runs / run_id).resolve())


def test_report_opens_offline_in_chromium(real_run, browser, tmp_path: Path) -> None:
    from dashboards.data import load_view
    from nas.cli import main

    runs, run_id = real_run
    out = tmp_path / "report.html"
    assert main(["report", run_id, "--runs-dir", str(runs), "-o", str(out)]) == 0
    n_front = len(load_view(runs / run_id).front)
    page = browser.new_page()
    requests: list[str] = []
    page.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()
                                      if route.request.url.startswith("file:") else route.abort()))
    page.goto(out.as_uri())
    page.wait_for_function("n => { const g = document.getElementById('front');"
                           " return g && g._fullData && g._fullData.some(d => (d.name || '').startsWith('Pareto front')"
                           " && d.x.length === n) && g.querySelectorAll('.scatterlayer .point').length >= n; }",
                           arg=n_front, timeout=60_000)
    assert all(u.startswith("file:") for u in requests), requests  # nothing fetched from the network
    assert run_id in page.inner_text("h1")
    _shot(page, "6-report.png")
