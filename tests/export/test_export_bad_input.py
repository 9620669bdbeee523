"""Bad input to ``nas export``: exit 2, one clear line, and nothing written (not even partly)."""

from __future__ import annotations

import shutil

import pytest

from nas.cli import main


def _cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as e:  # argparse errors
        code = int(e.code)
    return code, capsys.readouterr().err.strip()


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of the tiny run (some cases damage it)."""
    runs, run_id = tiny_run
    dst = tmp_path / "runs"
    shutil.copytree(runs / run_id, dst / run_id, ignore=shutil.ignore_patterns("exports", ".lock"))
    return dst, run_id


def _corrupt(path):
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken")


def _wrong_tensors(path):
    from nas.checkpoint import save_checkpoint
    import torch

    save_checkpoint(path, {"not.a.weight": torch.zeros(3)})


@pytest.mark.parametrize(
    "case, args, damage, message",
    [
        ("unknown run", ["no-such-run", "--trial", "0"], None, "`run` must name an existing run folder"),
        ("unknown trial", ["RUN", "--trial", "999"], None, "`--trial` must name a completed trial"),
        ("unknown arch id", ["RUN", "--arch-id", "ffffffffffff"], None, "`--arch-id` must name a completed trial"),
        ("pick matches nothing", ["RUN", "--pick", "latency_ms<=0.000001,max:accuracy"], None,
         "`--pick` must match at least one completed trial"),
        ("pick unknown metric", ["RUN", "--pick", "speed<=3"], None, "`constraint` must name a metric"),
        ("pick without direction", ["RUN", "--pick", "accuracy"], None, "`--pick` must give objectives"),
        ("unknown format", ["RUN", "--trial", "0", "--format", "pytorch,tflite"], None, "`--format` must list formats"),
        ("unknown device", ["RUN", "--trial", "0", "--device", "tpu"], None, "`--device` must be one of"),
        ("negative epochs", ["RUN", "--trial", "0", "--finetune-epochs", "-1"], None, "`--finetune-epochs` must be >= 0"),
        ("no selector", ["RUN"], None, "one of the arguments --trial --arch-id --pick is required"),
        ("missing supernet", ["RUN", "--trial", "0"], "missing", "must have a trained supernet.safetensors"),
        ("corrupt supernet", ["RUN", "--trial", "0"], _corrupt, "must be a valid safetensors file"),
        ("foreign supernet", ["RUN", "--trial", "0"], _wrong_tensors, "must hold this run's supernet weights"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(run_copy, tmp_path, capsys, case, args, damage, message):
    runs, run_id = run_copy
    sn = runs / run_id / "supernet.safetensors"
    if damage == "missing":
        sn.unlink()
    elif damage is not None:
        damage(sn)
    out = tmp_path / "out" / "model"
    argv = ["export", *[run_id if a == "RUN" else a for a in args], "--runs-dir", str(runs), "-o", str(out)]
    code, err = _cli(argv, capsys)
    assert code == 2, (case, err)
    assert message in err, (case, err)
    assert err.startswith("nas: error:") and len(err.splitlines()) == 1
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert not (runs / run_id / "exports").exists()


def test_existing_folder_is_refused_without_force_and_kept_intact(exported, tiny_run, capsys):
    runs, run_id = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in exported.iterdir()}
    code, err = _cli(["export", run_id, "--runs-dir", str(runs), "--trial", "0", "-o", str(exported)], capsys)
    assert code == 2 and "must name a folder that does not exist yet (or pass --force)" in err
    assert {p.name: p.stat().st_mtime_ns for p in exported.iterdir()} == before
