"""From a run folder to what :func:`~nas.export.pipeline.export_arch` needs, validating cheap things first.

Order: the run, the output folder, formats, device and epochs, the space, the trial; only then
the (expensive) supernet and task. A missing or corrupt ``supernet.safetensors`` is bad input
(exit 2), not a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.catalog import SPACES
from nas.data import Task
from nas.errors import RunStoreError, UserInputError, invalid
from nas.evaluate import EvalConfig
from nas.export._folder import check_target
from nas.export.finetune import FinetuneConfig
from nas.export.formats import parse_formats
from nas.export.select import select_trial
from nas.space import Arch
from nas.store import RunStore, resolve_run
from nas.supernet.base import Supernet

__all__ = ["ExportContext", "load_run_for_export"]


@dataclass
class ExportContext:
    """A run's trial, ready to export."""

    supernet: Supernet
    task: Task
    arch: Arch
    out: Path
    calib_seed: int
    finetune_seed: int
    eval_config: EvalConfig
    provenance: dict[str, Any]
    recorded: dict[str, Any]
    summary: str


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _supernet(store: RunStore) -> tuple[Supernet, Task, Any]:
    from nas.runner import load_supernet

    if not store.file("supernet.safetensors").is_file():
        raise RunStoreError(f"run `{store.run_id}` must have a trained supernet.safetensors to export, got none "
                            f"(is training finished? `nas resume {store.run_id}`)")
    try:
        return load_supernet(store)
    except (RuntimeError, KeyError) as e:  # tensors of another shape or name: not this run's supernet
        raise RunStoreError(f"`supernet.safetensors` of run `{store.run_id}` must hold this run's supernet weights, "
                            f"got mismatching tensors ({' '.join(str(e).split())[:300]})") from e


def load_run_for_export(run: str, runs_dir: str | Path, *, trial: int | None, arch_id: str | None, pick: str | None,
                        out: str | Path | None, force: bool, formats: str | Sequence[str], finetune_epochs: int,
                        device: str) -> ExportContext:
    """Resolves and validates everything an export of ``run`` needs (see the module docstring).

    Raises:
        UserInputError: naming the parameter, rule and value of the first problem found.
    """
    from nas.export.pipeline import DEVICES

    store = RunStore(resolve_run(runs_dir, run))
    cfg = store.config()
    spec = SPACES.get(str(cfg.get("space")), "space")
    if not spec.trainable:
        raise UserInputError(f"`run` must use a trainable space to be exported, got run `{store.run_id}` of "
                             f"table-backed space `{spec.name}` (it has no weights)")
    row = select_trial(store, trial=trial, arch_id=arch_id, pick=pick)
    target = check_target(out if out is not None else store.path / "exports" / f"trial-{int(row['trial'])}", force)
    parse_formats(formats)
    FinetuneConfig(epochs=finetune_epochs)
    if device not in DEVICES:
        raise invalid("--device", f"be one of {list(DEVICES)} (latency is measured in this process)", device)
    net, task, run_cfg = _supernet(store)
    arch = net.space.arch_from_json(row["arch"])
    manifest = store.manifest()
    seeds = dict(manifest.get("seeds", {}))
    provenance = {"run_id": store.run_id, "trial": int(row["trial"]), "seeds": seeds,
                  "versions": manifest.get("versions", {})}
    return ExportContext(net, task, arch, target, int(row.get("seed", 0)), int(seeds.get("run", 0)), run_cfg.eval,
                         provenance, _numbers(row), _describe(store, arch))


def _describe(store: RunStore, arch: Arch) -> str:
    """Short form of ``arch`` in the space the run searched (a sharing mode may derive one)."""
    from nas.runner import run_spec

    return run_spec(store).describe(arch)
