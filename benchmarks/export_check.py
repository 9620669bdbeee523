"""Export check: search, export and run each trainable space's model where only torch is installed.

For every space in ``spaces`` the harness runs the user's path end to end, in subprocesses:

1. ``nas search --space S --task T`` with a small config (few epochs, few evaluations, random
   strategy, local executor, short latency protocol), timed;
2. ``nas export RUN --trial N --format pytorch,onnx`` of a trial on the run's Pareto front
   (the most accurate one);
3. in ONE fresh virtual environment owned by the harness (``python -m venv`` + ``pip install
   torch==VERSION safetensors``, cached under ``~/.cache/sharenas/export-venv``), from the export
   folder: ``python -c "import model; ..."`` loads the model and runs the recorded check inputs;
   the max abs error against the recorded outputs (``check.safetensors``) is recorded, with the
   environment's ``pip freeze`` and the proof that ShareNAS, numpy, onnx and onnxruntime are not
   importable there;
4. ONNX Runtime (in this environment) on ``model.onnx`` with the same inputs, batch and batch 1;
5. for spaces in ``finetune``: ``nas export ... --finetune-epochs E``, test accuracy before and
   after read back from ``card.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

import yaml

__all__ = ["run", "ensure_torch_venv", "check_in_venv", "DEFAULT_TASKS"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TASKS = {"cnn1d": "mnist1d", "cell1d": "mnist1d", "mbconv": "digits", "tinylm": "pydoc-text"}
FORBIDDEN = ("nas", "search_spaces", "numpy", "onnx", "onnxruntime", "optuna")
_READY = "sharenas-ready.json"

# Runs inside the torch-only venv, cwd = the export folder: the acceptance's `import model`.
_VENV_SCRIPT = r"""
import importlib.util, json, sys
import torch
import model
from safetensors.torch import load_file
net = model.load()
check = load_file("check.safetensors")
with torch.no_grad():
    out = net(check["inputs"])
    out1 = net(check["inputs"][:1])
err = float((out - check["outputs"]).abs().max())
err1 = float((out1 - check["outputs"][:1]).abs().max())
err_sn = float((out - check["supernet_outputs"]).abs().max())
print(json.dumps({"max_abs_err": err, "max_abs_err_batch1": err1, "max_abs_err_vs_supernet": err_sn,
                  "importable_forbidden": [m for m in FORBIDDEN if importlib.util.find_spec(m)],
                  "model_file": model.__file__, "torch": torch.__version__, "prefix": sys.prefix}))
"""


def _sh(cmd: list[str], timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"command {' '.join(cmd)!r} must succeed, got exit {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def _clean_env() -> dict[str, str]:
    """The environment without anything that would put this repo or its venv on a path."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def ensure_torch_venv(path: str | Path | None = None, torch_version: str = "2.13.0") -> dict[str, Any]:
    """Creates (once; then reuses) a virtual environment holding only torch and safetensors.

    The folder is the harness's own: a venv found without the ready marker (an interrupted
    install) or with another torch version is deleted and rebuilt.

    Args:
        path: The venv folder (default ``~/.cache/sharenas/export-venv``).
        torch_version: The torch release to install.

    Returns:
        ``python`` (its interpreter), ``created`` (built by this call), ``seconds`` and
        ``freeze`` (its ``pip freeze``).
    """
    root = Path(path).expanduser() if path else Path.home() / ".cache" / "sharenas" / "export-venv"
    marker, py = root / _READY, root / "bin" / "python"
    if marker.exists() and py.exists():
        info = json.loads(marker.read_text())
        if info.get("torch_version") == torch_version:
            return {"python": str(py), "created": False, "seconds": 0.0, "freeze": info["freeze"]}
    if root.exists():
        if any(root.iterdir()) and not (root / "pyvenv.cfg").exists():
            raise ValueError(f"`venv_dir` must be a new or empty folder or a venv made by this harness, got {str(root)!r}")
        shutil.rmtree(root)  # an unfinished or outdated venv of ours: rebuilt from scratch
    t0 = time.perf_counter()
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(root)
    _sh([str(py), "-m", "pip", "install", "--quiet", f"torch=={torch_version}", "safetensors"], 1800, env=_clean_env())
    freeze = _sh([str(py), "-m", "pip", "freeze"], 120, env=_clean_env()).stdout.split()
    marker.write_text(json.dumps({"torch_version": torch_version, "freeze": freeze}))
    return {"python": str(py), "created": True, "seconds": time.perf_counter() - t0, "freeze": freeze}


def check_in_venv(python: str | Path, folder: Path) -> dict[str, Any]:
    """Runs ``import model`` from ``folder`` in the given interpreter (isolated: no user site,
    no PYTHONPATH) and returns its errors against the folder's recorded check outputs."""
    script = f"FORBIDDEN = {list(FORBIDDEN)!r}\n" + _VENV_SCRIPT
    proc = _sh([str(python), "-s", "-c", script], 600, cwd=folder, env=_clean_env())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ort_check(folder: Path) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort
    from safetensors.numpy import load_file

    check = load_file(str(folder / "check.safetensors"))
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x, want = check["inputs"], check["outputs"]
    full = session.run(None, {name: x})[0]
    one = session.run(None, {name: x[:1]})[0]
    return {"max_abs_err": float(np.abs(full - want).max()), "max_abs_err_batch1": float(np.abs(one - want[:1]).max()),
            "onnxruntime": ort.__version__}


def _search_config(budget: int, epochs: int, seed: int) -> dict[str, Any]:
    return {"budget": budget, "strategy": "random", "seed": seed,
            "train": {"epochs": epochs, "batch_size": 128, "num_random": 1, "warmup_epochs": 0},
            "eval": {"calib_batches": 2, "calib_batch_size": 128, "latency": {"warmup": 10, "repeats": 30}},
            "execution": {"executor": "local", "workers": 1}}


def _nas(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas", *args]


def _search(space: str, task: str, cfg: Path, runs: Path) -> dict[str, Any]:
    cmd = _nas("search", "--config", str(cfg), "--space", space, "--task", task, "--runs-dir", str(runs),
               "--name", space, "--quiet")
    t0 = time.perf_counter()
    proc = _sh(cmd, 3600, cwd=REPO)
    wall = time.perf_counter() - t0
    m = re.search(r"run (\S+) -> ", proc.stdout)
    if m is None:
        raise RuntimeError(f"`nas search` must print the run id, got:\n{proc.stdout[-1500:]}")
    shown = ["nas", *cmd[3:]]
    return {"command": " ".join(shown), "wall_s": wall, "run_id": m.group(1)}


def _pareto_trial(run_dir: Path) -> dict[str, Any]:
    front = json.loads((run_dir / "front.json").read_text())
    rows = front.get("front") or []
    if not rows:
        raise RuntimeError(f"run {run_dir.name} must have a non-empty Pareto front, got none")
    best = max(rows, key=lambda r: (float(r["accuracy"]), -float(r.get("latency_ms", 0.0))))
    return {"trial": int(best["trial"]), "arch_id": best["arch_id"], "front_size": len(rows),
            "recorded": {k: best.get(k) for k in ("accuracy", "test_accuracy", "latency_ms", "params", "bpc") if k in best}}


def _card_finetune(card: str) -> dict[str, float]:
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^\| (validation|test) \| ([\d.]+) \| ([\d.]+) \|$", card, re.M)}
    if "test" not in rows:
        raise RuntimeError("card.md must record test accuracy before and after fine-tuning, got no such row")
    return {"test_before": rows["test"][0], "test_after": rows["test"][1],
            "val_before": rows["validation"][0], "val_after": rows["validation"][1]}


def _export(run_id: str, runs: Path, trial: int, out: Path, finetune: int = 0) -> dict[str, Any]:
    cmd = _nas("export", run_id, "--runs-dir", str(runs), "--trial", str(trial), "--format", "pytorch,onnx", "-o", str(out))
    if finetune:
        cmd += ["--finetune-epochs", str(finetune)]
    t0 = time.perf_counter()
    _sh(cmd, 3600, cwd=REPO)
    verify = json.loads((out / "verify.json").read_text())
    return {"command": " ".join(["nas", *cmd[3:]]), "wall_s": time.perf_counter() - t0,
            "files": sorted(p.name for p in out.iterdir()),
            "export_equality": verify["equality"]["loaded_vs_supernet"],
            "export_onnx": verify.get("onnx", {}).get("max_abs_diff"),
            "export_latency_ratio": verify["latency"]["ratio"]}


def _one_space(space: str, task: str, cfg: Path, work: Path, python: str, finetune_epochs: int) -> dict[str, Any]:
    runs = work / "runs"
    search = _search(space, task, cfg, runs)
    pick = _pareto_trial(runs / search["run_id"])
    folder = work / "exports" / f"{space}-trial-{pick['trial']}"
    row: dict[str, Any] = {"space": space, "task": task, "search": search, **pick,
                           "export": _export(search["run_id"], runs, pick["trial"], folder)}
    row["arch"] = json.loads((folder / "arch.json").read_text())["arch"]
    row["torch_only_venv"] = check_in_venv(python, folder)
    row["onnxruntime"] = _ort_check(folder)
    if finetune_epochs:
        ft_folder = folder.with_name(folder.name + f"-ft{finetune_epochs}")
        ft = _export(search["run_id"], runs, pick["trial"], ft_folder, finetune_epochs)
        card = _card_finetune((ft_folder / "card.md").read_text())
        row["finetune"] = {"epochs": finetune_epochs, **card, "kept_or_improved": card["test_after"] >= card["test_before"],
                           "torch_only_venv": check_in_venv(python, ft_folder), "export": ft}
    return row


def _parse_map(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"`tasks` must be comma-separated space=task pairs, got {part!r}")
        out[key] = value
    return out


def run(spaces: str = "cnn1d,mbconv,tinylm", tasks: str = "", budget: int = 6, epochs: int = 1,
        finetune: str = "cnn1d,mbconv,tinylm", finetune_epochs: int = 3, seed: int = 0, venv_dir: str = "",
        torch_version: str = "2.13.0", workdir: str = "", out: str | None = None) -> dict[str, Any]:
    """Searches, exports and checks every space in ``spaces`` in a torch-only environment.

    Args:
        spaces: Comma-separated registered trainable spaces.
        tasks: Overrides of the task per space, ``space=task,...`` (defaults: :data:`DEFAULT_TASKS`).
        budget: Evaluations of each search.
        epochs: Supernet training epochs of each search.
        finetune: Spaces also exported with ``--finetune-epochs``.
        finetune_epochs: Fine-tuning epochs.
        seed: Run seed.
        venv_dir: The torch-only venv (default ``~/.cache/sharenas/export-venv``).
        torch_version: torch release installed there.
        workdir: Where runs and exports go (default: a temporary folder, deleted after).
        out: JSON file to write.
    """
    from nas.catalog import SPACES
    import search_spaces  # noqa: F401

    names = [s.strip() for s in spaces.split(",") if s.strip()]
    task_of = DEFAULT_TASKS | _parse_map(tasks)
    for s in names:
        if not SPACES.get(s).trainable:
            raise ValueError(f"`spaces` must list trainable spaces, got {s!r}")
    if budget < 2:
        raise ValueError(f"`budget` must be at least 2 evaluations, got {budget}")
    env_info = ensure_torch_venv(venv_dir or None, torch_version)
    ft_spaces = {s.strip() for s in finetune.split(",") if s.strip()}
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="export-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        cfg = work / "search.yaml"
        cfg.write_text(yaml.safe_dump(_search_config(budget, epochs, seed)))
        rows = [_one_space(s, task_of.get(s) or SPACES.get(s).default_task, cfg, work / s, env_info["python"],
                           finetune_epochs if s in ft_spaces else 0) for s in names]
    finally:
        if not workdir:
            shutil.rmtree(work, ignore_errors=True)
    payload = {
        "benchmark": "export_check", "settings": {"budget": budget, "epochs": epochs, "seed": seed, "strategy": "random",
                                                   "finetune_epochs": finetune_epochs,
                                                   "search_config": _search_config(budget, epochs, seed)},
        "torch_only_venv": {"torch_version": torch_version, "created_now": env_info["created"],
                            "install_s": env_info["seconds"], "pip_freeze": env_info["freeze"]},
        "spaces": rows,
        "summary": {r["space"]: {"venv_max_abs_err": r["torch_only_venv"]["max_abs_err"],
                                 "ort_max_abs_err": r["onnxruntime"]["max_abs_err"],
                                 "search_wall_s": r["search"]["wall_s"], "trial": r["trial"],
                                 **({"test_before": r["finetune"]["test_before"], "test_after": r["finetune"]["test_after"]}
                                    if "finetune" in r else {})} for r in rows},
        "all_within_1e-5": all(r["torch_only_venv"]["max_abs_err"] <= 1e-5 for r in rows),
        "all_ort_within_1e-4": all(r["onnxruntime"]["max_abs_err"] <= 1e-4 for r in rows),
    }
    if out:
        from benchmarks.results_io import write_result

        write_result(payload, out)
    return payload
