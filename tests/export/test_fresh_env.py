"""The export runs in a Python that has only torch and safetensors.

Approach: a real virtual environment (``python -m venv --without-pip``, no system site-packages)
whose ``site-packages`` holds symlinks to exactly the installed files of ``torch``,
``safetensors`` and their declared runtime requirements (the dependency closure read from the
installed distributions' metadata, extras skipped), nothing else. The interpreter runs with
``-I`` (no user site, no PYTHONPATH, no current folder on the path). This is what
``pip install torch safetensors`` into a fresh venv gives, without a network download, and it
proves isolation from the inside: ShareNAS, numpy's extras, onnx are not importable there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

import pytest

_SCRIPT = r"""
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
import torch
import model
from safetensors.torch import load_file
net = model.load()
check = load_file(sys.argv[1] + "/check.safetensors")
with torch.no_grad():
    err = float((net(check["inputs"]) - check["outputs"]).abs().max())
absent = [m for m in ("nas", "onnx", "onnxruntime", "optuna", "search_spaces") if importlib.util.find_spec(m)]
print(json.dumps({"err": err, "importable_extras": absent, "prefix": sys.prefix}))
"""


def _name(req: str) -> str | None:
    if ";" in req and "extra" in req.split(";", 1)[1]:
        return None  # optional extra: not installed by a plain `pip install torch`
    m = re.match(r"[A-Za-z0-9_.\-]+", req)
    return m.group(0) if m else None


def _closure(roots: list[str]) -> list[Distribution]:
    seen: dict[str, Distribution] = {}
    todo = list(roots)
    for _ in range(500):  # bounded: the closure of torch is a few dozen distributions
        if not todo:
            break
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a requirement for another platform/python: not installed here either
        seen[name] = dist
        todo += [n for n in (_name(r) for r in dist.requires or []) if n]
    return list(seen.values())


def _link_distribution(dist: Distribution, site: Path) -> None:
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    base = Path(str(dist.locate_file("")))
    for top in tops:
        src, dst = base / top, site / top
        if src.exists() and not dst.exists() and top != "__pycache__":
            dst.symlink_to(src)


@pytest.fixture(scope="module")
def torch_only_python(tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False, symlinks=True).create(env)
    site = next((env / "lib").glob("python*/site-packages"))
    dists = _closure(["torch", "safetensors"])
    assert {d.metadata["Name"].lower() for d in dists} >= {"torch", "safetensors"}
    for d in dists:
        _link_distribution(d, site)
    return env / "bin" / "python"


def test_exported_model_runs_with_only_torch_and_safetensors(exported, torch_only_python):
    proc = subprocess.run([str(torch_only_python), "-I", "-c", _SCRIPT, str(exported)], capture_output=True,
                          text=True, timeout=240, cwd=str(exported.parent))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["importable_extras"] == []
    assert out["prefix"] != sys.prefix
    assert out["err"] <= 1e-5
