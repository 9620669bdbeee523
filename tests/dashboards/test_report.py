"""``nas report``: one self-contained HTML page; ``nas dashboard`` argument checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from dashboards.report import write_report
from nas.cli import main


def test_report_is_self_contained_and_has_every_section(runs_dir: Path, view_a, tmp_path: Path) -> None:
    out = write_report(runs_dir / "run-a", tmp_path / "r" / "report.html", top_k=5)
    text = out.read_text()
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)  # offline
    assert "Plotly" in text and 'id="front"' in text and 'id="hv"' in text and 'id="predictions"' in text
    top = text.split('id="top-archs"')[1].split("</table>")[0]
    assert top.count("<tr>") == 1 + min(5, len(view_a.front))
    assert str(view_a.front["arch_id"].iloc[0]) in top


def test_report_escapes_text_from_the_run(runs_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "evil"
    shutil.copytree(runs_dir / "run-a", run)
    cfg = yaml.safe_load((run / "config.yaml").read_text()) | {"strategy": "<script>alert(1)</script>"}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    text = write_report(run, tmp_path / "evil.html").read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)" in text


def test_report_command(runs_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.html"
    assert main(["report", "run-b", "--runs-dir", str(runs_dir), "-o", str(out)]) == 0
    assert out.stat().st_size > 1_000_000 and "run-b" in capsys.readouterr().out  # plotly.js inlined


@pytest.mark.parametrize("argv", [["report", "../../etc/passwd", "--runs-dir", "RUNS"],
                                  ["report", "missing", "--runs-dir", "RUNS"],
                                  ["report", "run-a", "--runs-dir", "RUNS", "-o", "RUNS"],
                                  ["dashboard", "RUNS/nowhere"],
                                  ["dashboard", "RUNS", "--port", "70000"],
                                  ["dashboard", "RUNS", "--poll-ms", "0"]])
def test_bad_input_exits_2(runs_dir: Path, argv: list[str], capsys) -> None:
    argv = [a.replace("RUNS", str(runs_dir)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    assert code == 2
    assert "nas: error:" in capsys.readouterr().err
