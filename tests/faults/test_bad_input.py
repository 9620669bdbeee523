"""Bad-input battery: every CLI command x malformed inputs exits 2 with one line and writes nothing."""

from __future__ import annotations

import pytest

from nas.cli import main

CASES = [
    # (argv, substring of the one-line message)
    (["search", "--budget", "-3"], "`budget` must be positive"),
    (["search", "--budget", "0"], "`budget` must be positive"),
    (["search", "--budget", "0s"], "`budget` must be positive"),
    (["search", "--budget", "soon"], "`budget` must be an evaluation count"),
    (["search", "--space", "resnet9000"], "`space` must be one of"),
    (["search", "--task", "imagenet"], "`task` must be one of"),
    (["search", "--strategy", "annealing"], "`strategy` must be one of"),
    (["search", "--objectives", "accuracy"], "`objectives`"),
    (["search", "--objectives", "accuracy:max,accuracy:min"], "`objectives`"),
    (["search", "--objectives", "accuracy:up"], "`objectives`"),
    (["search", "--constraint", "latency_ms<<2"], "`constraint`"),
    (["search", "--constraint", "latency_ms<=nan"], "`constraint`"),
    (["search", "--constraint", "joules<=2"], "`constraint`"),
    (["search", "--device", "tpu"], "`device` must be one of"),
    (["search", "--executor", "slurm"], "`execution.executor` must be one of"),
    (["search", "--workers", "0"], "`execution.workers` must be positive"),
    (["search", "--epochs", "-1"], "`train.epochs` must be >= 0"),
    (["search", "--seed", "-4"], "`seed` must be >= 0"),
    (["search", "--config", "/nonexistent/c.yaml"], "`config` must be a readable file"),
    (["resume", "no-such-run"], "`run` must name an existing run folder"),
    (["resume", "../../etc/passwd"], "`run` must"),
    (["front", "no-such-run"], "`run` must"),
    (["front", "../outside"], "`run` must"),
    (["runs", "show"], "`run` must be given"),
    (["runs", "show", "x/../../y"], "`run` must"),
    (["bench", "no-such-benchmark"], "`name` must be one of"),
    (["bench", "throughput", "--n-archs", "many"], "`--n_archs` must be an integer"),
    (["bench", "throughput", "--bogus", "1"], "`options` must name options"),
    (["export", "no-such-run", "--trial", "0"], "`run` must"),
    (["export", "../../etc/passwd", "--trial", "0"], "`run` must"),
    (["profile", "--space", "resnet9000", "--device", "cpu-ort"], "`space` must be one of"),
    (["profile", "--space", "cnn1d", "--device", "tpu-9"], "`device`"),
    (["profile", "--space", "cnn1d", "--device", "cpu-ort", "--samples", "-5"], "`--samples`"),
    (["report", "no-such-run"], "`run` must"),
    (["report", "../../etc/passwd"], "`run` must"),
    (["dashboard", "no/such/runs/dir"], "`RUNS_DIR` must be an existing folder"),
    (["dashboard", "--port", "70000"], "`--port`"),
    (["search", "--space", "table:/nonexistent/t.csv"], "must name an existing CSV file"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    extra = ["--runs-dir", str(runs)] if argv[0] in ("search", "resume", "front", "runs", "export", "report") else []
    try:
        code = main(argv + extra)
    except SystemExit as e:
        code = int(e.code)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no run folder


@pytest.mark.parametrize("content, message", [
    ("budget: [1, 2]\n", "`budget` must be"),
    ("train: 5\n", "`train` must be a mapping"),
    ("train: {epochs: 1.5}\n", "`train.epochs` must be an integer"),
    ("eval: {latency: {threads: 0}}\n", "must be positive"),
    ("constraints: latency_ms<=2\n", "`constraints` must be a list"),
    ("- a\n- b\n", "`config` must be a YAML mapping"),
    ("space: cnn1d\nspace_typo: 1\n", "unknown key `space_typo`"),
])
def test_bad_config_files(content, message, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(content)
    code = main(["search", "--config", str(cfg), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_runs_dir_that_is_not_a_writable_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    code = main(["search", "--runs-dir", str(blocker / "sub"), "--budget", "3"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "`runs_dir` must be a writable folder" in err and len(err.splitlines()) == 1
    assert blocker.read_text().startswith("a file")


def _table(tmp_path, text: str) -> str:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("a,b,accuracy,latency_ms\nx,1,90,nan\ny,2,91,2.0\n", "latency_ms"),  # NaN in a metric cell
    ("a,b,accuracy\nx,1,abc\ny,2,91\n", "accuracy"),  # non-numeric metric
    ("a,b\nx,1\ny,2\n", "t.csv"),  # no metric column at all
])
def test_a_malformed_table_space_is_refused_naming_file_and_column(text, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = _table(tmp_path, text)
    code = main(["search", "--space", f"table:{table}", "--budget", "2", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


def test_a_table_missing_a_declared_column_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = _table(tmp_path, "a,b,accuracy\nx,1,90\ny,2,91\n")
    (tmp_path / "t.csv.yaml").write_text("choices: [a, b, c]\naccuracy: accuracy\n")
    code = main(["search", "--space", f"table:{table}", "--budget", "2", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "t.csv" in err and ("`c`" in err or "'c'" in err), err
    assert not (tmp_path / "runs").exists()
