"""The export button's adapter onto ``nas.export`` (the real export runs in the browser test)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dashboards
from dashboards import exporting
from nas.cli import build_parser
from nas.errors import UserInputError


@pytest.mark.parametrize("trial", [-1, "3", 2.0, True, None])
def test_trial_from_the_browser_must_be_a_non_negative_int(runs_dir: Path, trial) -> None:
    with pytest.raises(UserInputError, match="`trial` must be a non-negative integer"):
        exporting.export_point(runs_dir / "run-a", trial)


def test_export_goes_to_the_run_folder_once(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def fake_export_run(run, runs_dir, *, trial, out, formats):
        calls.append((run, Path(runs_dir), trial, Path(out), formats))
        Path(out).mkdir(parents=True)
        (Path(out) / "arch.json").write_text("{}")
        return type("Result", (), {"path": Path(out)})()

    monkeypatch.setattr(exporting, "_export_api", lambda: fake_export_run)
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    first = exporting.export_point(run, 4)
    assert first == run / "exports" / "trial-4"
    assert calls == [("r1", tmp_path / "runs", 4, first, ("pytorch",))]
    assert exporting.export_point(run, 4) == first and len(calls) == 1  # the second click reuses it


def test_missing_export_api_is_a_clear_error(runs_dir: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nas.export", None)  # as if the export API were absent
    with pytest.raises(exporting.ExportUnavailable, match="nas.export.export_run"):
        exporting.export_point(runs_dir / "run-a", 0)
    assert not exporting.export_available()


def test_public_api_and_default_bind_address() -> None:
    assert dashboards.create_app.__module__ == "dashboards.app"
    with pytest.raises(AttributeError):
        dashboards.nothing  # noqa: B018
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port, args.runs_dir) == ("127.0.0.1", 8050, "runs")
