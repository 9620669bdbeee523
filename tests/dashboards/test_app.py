"""The Dash app's server: pages, 404 for anything that is not a run folder, page routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.app import create_app, page_for
from dashboards.data import RunCache
from nas.errors import ConfigError


@pytest.fixture(scope="module")
def client(runs_dir: Path):
    return create_app(runs_dir).server.test_client()


def test_pages_and_dash_internals_are_served(client) -> None:
    for path in ("/", "/compare", "/run/run-a", "/run/run-b/", "/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("path", ["/run/../../etc/passwd", "/run/..%2F..%2Fetc%2Fpasswd", "/run/%2e%2e",
                                  "/run/nope", "/run/run-a/../../x", "/etc/passwd", "/run/.hidden", "/runs.csv"])
def test_anything_else_is_404(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.data


def test_page_routing(runs_dir: Path) -> None:
    cache = RunCache()
    assert page_for(runs_dir, cache, "/run/../../etc/passwd").id == "not-found"
    run = page_for(runs_dir, cache, "/run/run-a")
    assert "Run run-a" in str(run)
    compare = page_for(runs_dir, cache, "/compare", "?runs=run-b,../../x")
    dropdown = [c for c in compare.children if getattr(c, "id", None) == "compare-runs"][0]
    assert dropdown.value == ["run-b"] and dropdown.options == ["run-a", "run-b"]


def test_poll_interval_must_be_positive(runs_dir: Path) -> None:
    with pytest.raises(ConfigError, match="poll_ms"):
        create_app(runs_dir, poll_ms=0)
