"""Config validation and CLI bad input: exit code 2, one line naming the problem, no run folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.cli import main
from nas.config import load_config
from nas.errors import ConfigError


def _run_cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as e:  # argparse errors
        code = int(e.code)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"budget": "-3"}, "`budget` must be positive"),
        ({"budget": "ten"}, "`budget` must be an evaluation count"),
        ({"train.epochs": "x"}, "`train.epochs` must be an integer, got 'x'"),
        ({"train.lr": -1.0}, "`train.lr` must be positive"),
        ({"seed": -1}, "`seed` must be >= 0"),
        ({"objectives": "accuracy"}, "direction"),
        ({"constraints": ["latency_ms<3"]}, "METRIC<=NUMBER"),
        ({"execution.executor": "slurm"}, "`execution.executor` must be one of"),
        ({"eval.latency.repeats": 0}, "must be positive"),
        ({"population_size": "x"}, "`population_size` must be an integer, got 'x'"),
        ({"execution.ray_address": [1]}, "`execution.ray_address` must be a string"),
    ],
)
def test_invalid_values_name_key_rule_and_value(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(None, overrides)


def test_unknown_key_and_wrong_type_in_a_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget: 10\nbogus_key: 1\n")
    with pytest.raises(ConfigError, match="unknown key `bogus_key`"):
        load_config(bad)
    bad.write_text("train: {epochs: [1, 2]}\n")
    with pytest.raises(ConfigError, match="`train.epochs` must be an integer"):
        load_config(bad)
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_config(bad)


def test_defaults_load_and_overrides_apply():
    cfg = load_config(None, {"budget": "10m", "train.epochs": 3, "constraints": ["latency_ms<=2.5"]})
    assert cfg.parsed_budget().seconds == 600 and cfg.parsed_budget().evaluations is None
    assert cfg.train.epochs == 3
    assert str(cfg.parsed_constraints()[0]) == "latency_ms<=2.5"
    assert [o.direction for o in cfg.parsed_objectives()] == ["maximize", "minimize"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "--budget", "-3"], "`budget` must be positive"),
        (["search", "--space", "nope"], "`space` must be one of"),
        (["search", "--strategy", "nope"], "`strategy` must be one of"),
        (["search", "--task", "nope"], "`task` must be one of"),
        (["search", "--objectives", "accuracy:max,foo:min"], "`objectives` must name metrics"),
        (["search", "--constraint", "latency_ms<=abc"], "numeric bound"),
        (["search", "--device", "tpu"], "`device` must be one of"),
        (["search", "--workers", "two"], "`--workers` must be an integer"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_no_run_folder(args, message, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, err = _run_cli(args + ["--runs-dir", str(runs)], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("nas: error:")
    assert message in err
    assert not runs.exists() or not any(runs.iterdir())


def test_config_file_with_unknown_key_exits_2_without_run_folder(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"budget": 5, "runs_dir": str(tmp_path / "runs"), "surprise": True}))
    code, err = _run_cli(["search", "--config", str(cfg)], capsys)
    assert code == 2 and "unknown key `surprise`" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_unknown_run_and_path_traversal_are_refused(tmp_path, capsys):
    for cmd in (["resume", "nope"], ["front", "nope"], ["runs", "show", "../../etc/passwd"], ["resume", "..%2f.."]):
        code, err = _run_cli(cmd + ["--runs-dir", str(tmp_path)], capsys)
        assert code == 2, cmd
        assert "`run` must" in err


def test_python_dash_m_nas_matches_the_console_script(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nas", "search", "--budget", "0", "--runs-dir", str(tmp_path / "r")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "`budget` must be positive" in out.stderr
    assert not Path(tmp_path / "r").exists()
