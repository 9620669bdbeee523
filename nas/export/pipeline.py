"""``export_arch``: materialise one subnet, write the standalone folder, verify it, describe it.

Call sequence (everything inside a staging folder that is renamed into place at the end)::

    static = evaluator.static_subnet(arch, seed)    # materialised weights, BN recalibrated
    model.py        <- generate_source(static)      # plain PyTorch, the space's block names
    model.safetensors, arch.json
    loaded = import model.py; load()                # the files, not the objects, are checked
    equality        loaded vs activated supernet (BN recalibrated alike) <= 1e-5, else ExportError
    [fine-tune]     loaded trained further; best validation epoch kept; weights rewritten
    check.safetensors, model.onnx (ORT <= 1e-4), model.ts, latency (interleaved), card.md
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file, save_model

from nas.data import Task
from nas.evaluate import EvalConfig, Evaluator, accuracy
from nas.export._folder import check_target, staged
from nas.export.card import render_card
from nas.export.codegen import generate_source
from nas.export.finetune import FinetuneConfig, finetune
from nas.export.formats import parse_formats, write_onnx, write_torchscript
from nas.export.loader import import_model_source
from nas.export.templates import ExportError
from nas.export.verify import EQUAL_ATOL, ORT_ATOL, interleaved_latency, max_abs_diff, recalibrated_reference
from nas.errors import invalid
from nas.profiling.cost import count_macs, count_params
from nas.profiling.measure import LatencyProtocol
from nas.space import Arch
from nas.supernet.base import Supernet

__all__ = ["ExportResult", "export_arch", "export_run", "DEVICES"]

DEVICES = ("cpu",)


@dataclass
class ExportResult:
    """What an export wrote and measured.

    Attributes:
        path: The export folder.
        arch: The exported architecture.
        verify: The verification record (also in ``verify.json``).
        metrics: Accuracies of the exported weights (validation and test, %).
        files: Names of the files written.
        summary: The architecture in the space's short form.
    """

    path: Path
    arch: Arch
    verify: dict[str, Any]
    metrics: dict[str, float]
    files: list[str] = field(default_factory=list)
    summary: str = ""


def _versions() -> dict[str, str]:
    import safetensors

    return {"python": platform.python_version(), "torch": torch.__version__, "safetensors": safetensors.__version__}


def _write_model(static: torch.nn.Module, arch: Arch, task: Task, space: str, folder: Path, prov: Mapping[str, Any]) -> None:
    doc = (f"{space} subnet {arch.arch_id}, exported by ShareNAS (run {prov.get('run_id', '-')}, trial "
           f"{prov.get('trial', '-')}).\n\nStandalone: needs only torch and safetensors.\n\n"
           "    import model\n    net = model.load()  # weights from model.safetensors beside this file")
    consts = {"SPACE": space, "ARCH_ID": arch.arch_id, "INPUT_SHAPE": list(task.input_shape), "ARCH": arch.to_dict()}
    (folder / "model.py").write_text(generate_source(static, doc, consts), encoding="utf-8")
    save_model(static, str(folder / "model.safetensors"), metadata={"arch_id": arch.arch_id, "space": space})
    (folder / "arch.json").write_text(json.dumps({"space": space, "arch_id": arch.arch_id, "arch": arch.to_dict()}, indent=2))


def _equality(loaded: torch.nn.Module, static: torch.nn.Module, ref_out: torch.Tensor, x: torch.Tensor) -> dict[str, Any]:
    with torch.no_grad():
        err = max_abs_diff(loaded(x), ref_out)
        err_static = max_abs_diff(static(x), ref_out)
    if not err <= EQUAL_ATOL:
        raise ExportError(f"exported model must equal the activated supernet subnet to {EQUAL_ATOL:g}, got max |diff| {err:.3g}")
    return {"loaded_vs_supernet": err, "static_vs_supernet": err_static, "atol": EQUAL_ATOL, "ok": True}


def _latency(loaded: torch.nn.Module, ref: torch.nn.Module, shape: tuple[int, ...], protocol: LatencyProtocol) -> dict[str, Any]:
    res = interleaved_latency({"exported": loaded, "supernet": ref}, shape, protocol)
    e, s = res["exported"], res["supernet"]
    return {"exported_ms": e.median_ms, "exported_iqr_ms": e.iqr_ms, "supernet_ms": s.median_ms,
            "supernet_iqr_ms": s.iqr_ms, "ratio": e.median_ms / s.median_ms, "not_higher": e.median_ms <= s.median_ms,
            "protocol": {"warmup": protocol.warmup, "repeats": protocol.repeats, "threads": protocol.threads,
                         "batch_size": protocol.batch_size},
            "protocol_text": f"{protocol.threads} thread(s), batch {protocol.batch_size}, warm-up {protocol.warmup}, "
                             f"median of {protocol.repeats}"}


def _formats(loaded: torch.nn.Module, folder: Path, x: torch.Tensor, formats: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "onnx" in formats:
        o = write_onnx(loaded, folder / "model.onnx", x) | {"atol": ORT_ATOL}
        if not max(o["max_abs_diff"], o["max_abs_diff_batch1"]) <= ORT_ATOL:
            raise ExportError(f"ONNX Runtime outputs must equal PyTorch's to {ORT_ATOL:g}, got max |diff| {o['max_abs_diff']:.3g}")
        out["onnx"] = o | {"ok": True}
    if "torchscript" in formats:
        t = write_torchscript(loaded, folder / "model.ts", x) | {"atol": EQUAL_ATOL}
        if not t["max_abs_diff"] <= EQUAL_ATOL:
            raise ExportError(f"TorchScript outputs must equal PyTorch's to {EQUAL_ATOL:g}, got max |diff| {t['max_abs_diff']:.3g}")
        out["torchscript"] = t | {"ok": True}
    return out


def export_arch(supernet: Supernet, task: Task, arch: Arch, out: str | Path, *, calib_seed: int = 0,
                eval_config: EvalConfig | None = None, formats: str | Sequence[str] = ("pytorch", "onnx"),
                finetune_epochs: int = 0, finetune_seed: int = 0, device: str = "cpu", force: bool = False,
                provenance: Mapping[str, Any] | None = None, recorded: Mapping[str, Any] | None = None,
                summary: str | None = None, check_size: int = 64) -> ExportResult:
    """Exports ``arch`` of a trained supernet as a verified standalone folder.

    Args:
        supernet: The trained supernet (not modified).
        task: Its task (calibration, check batch, accuracy, fine-tuning).
        arch: The architecture to export.
        out: The folder to create.
        calib_seed: Seed of the BatchNorm calibration batches (the trial's evaluation seed).
        eval_config: Calibration sizes and the latency protocol (default: :class:`EvalConfig`).
        formats: Among ``pytorch`` (always), ``onnx``, ``torchscript``.
        finetune_epochs: Epochs of fine-tuning of the static model (0: none).
        finetune_seed: Seed of the fine-tuning batch order.
        device: Where latency is measured (``cpu``).
        force: Replace an existing ``out``.
        provenance: ``run_id``, ``trial``, ``seeds``, ``versions`` for the card.
        recorded: The trial's recorded metrics (shown beside the new measurements).
        summary: A one-line description of the architecture (default: its choices).
        check_size: Validation inputs in the check batch.

    Raises:
        UserInputError: bad ``out``, ``formats``, ``device`` or ``finetune_epochs``.
        ExportError: when a verification fails (nothing is written then).
    """
    fmts = parse_formats(formats)
    if device not in DEVICES:
        raise invalid("--device", f"be one of {list(DEVICES)} (latency is measured in this process)", device)
    ft_cfg = FinetuneConfig(epochs=finetune_epochs, seed=finetune_seed)
    if "banked" in fmts and ft_cfg.epochs:
        raise invalid("--format", "leave out banked with --finetune-epochs (fine-tuning changes generated weights)", fmts)
    if check_size < 2:
        raise invalid("check_size", "be at least 2", check_size)
    target = check_target(out, force)
    supernet.space.check(arch)
    cfg = eval_config or EvalConfig()
    prov = dict(provenance or {})
    prov["export_versions"] = _versions()
    prov.setdefault("seeds", {})["calibration"] = calib_seed
    evaluator = Evaluator(supernet, task, cfg)
    static = evaluator.static_subnet(arch, calib_seed)
    ref = recalibrated_reference(supernet, arch, evaluator.calibration_batches(calib_seed))
    x = task.val.x[:check_size]
    with torch.no_grad():
        ref_out = ref(x)
    with staged(target, force) as tmp:
        _write_model(static, arch, task, supernet.space.name, tmp, prov)
        source = import_model_source(tmp / "model.py")
        loaded = source.load(str(tmp / "model.safetensors"))
        verify: dict[str, Any] = {"check_batch": {"split": "val", "size": int(x.shape[0])},
                                  "equality": _equality(loaded, static, ref_out, x)}
        if ft_cfg.epochs:
            verify["finetune"] = finetune(loaded, task, ft_cfg).to_dict()
            save_model(loaded, str(tmp / "model.safetensors"), metadata={"arch_id": arch.arch_id, "finetuned": "1"})
            loaded = source.load(str(tmp / "model.safetensors"))
        with torch.no_grad():
            final_out = loaded(x)
        save_file({"inputs": x.contiguous(), "outputs": final_out.contiguous(), "supernet_outputs": ref_out.contiguous()},
                  str(tmp / "check.safetensors"))
        verify.update(_formats(loaded, tmp, x, fmts))
        if "banked" in fmts:  # NPAS runs: bank + coefficients, weights generated at load
            from nas.export.banked import write_banked

            verify["banked"] = write_banked(supernet, arch, static, tmp, x, ref_out)
        verify["latency"] = _latency(loaded, ref, task.input_shape, cfg.latency)
        metrics = {"accuracy": accuracy(loaded, task.val, heads=task.heads),
                   "test_accuracy": accuracy(loaded, task.test, heads=task.heads)}
        info = {"space": supernet.space.name, "task": task.name, "arch": arch.to_dict(), "arch_id": arch.arch_id,
                "summary": summary or arch.short(), "params": count_params(loaded),
                "macs": count_macs(loaded, task.input_shape), "metrics": metrics, "recorded": dict(recorded or {}),
                "device": device, "provenance": prov, "verify": verify, "formats": list(fmts),
                "input_shape": task.input_shape}
        (tmp / "verify.json").write_text(json.dumps(verify, indent=2))
        (tmp / "card.md").write_text(render_card(info), encoding="utf-8")
        files = sorted(p.name for p in tmp.iterdir())
    return ExportResult(target, arch, verify, metrics, files, info["summary"])


def export_run(run: str, runs_dir: str | Path = "runs", *, trial: int | None = None, arch_id: str | None = None,
               pick: str | None = None, out: str | Path | None = None, formats: str | Sequence[str] = ("pytorch", "onnx"),
               finetune_epochs: int = 0, device: str = "cpu", force: bool = False) -> ExportResult:
    """Exports one trial of a run (the API behind ``nas export``); see :func:`export_arch`.

    The default ``out`` is ``<run folder>/exports/trial-<N>``.

    Raises:
        UserInputError: unknown run or trial, a pick matching nothing, an existing ``out``
            without ``force``, a missing or corrupt ``supernet.safetensors``.
    """
    from nas.export._runs import load_run_for_export

    ctx = load_run_for_export(run, runs_dir, trial=trial, arch_id=arch_id, pick=pick, out=out, force=force,
                              formats=formats, finetune_epochs=finetune_epochs, device=device)
    return export_arch(ctx.supernet, ctx.task, ctx.arch, ctx.out, calib_seed=ctx.calib_seed, eval_config=ctx.eval_config,
                       formats=formats, finetune_epochs=finetune_epochs, finetune_seed=ctx.finetune_seed, device=device,
                       force=force, provenance=ctx.provenance, recorded=ctx.recorded, summary=ctx.summary)
