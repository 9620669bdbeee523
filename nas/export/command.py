"""``nas export RUN (--trial N | --arch-id ID | --pick EXPR) [--format ...] [-o DIR] [--finetune-epochs E]``."""

from __future__ import annotations

import argparse
from typing import Any

from nas.argtypes import int_arg

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Adds the ``export`` sub-command."""
    p = sub.add_parser("export", help="export a trial as a standalone, verified model folder")
    p.add_argument("run", help="run id (in --runs-dir) or path to a run folder")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int_arg("--trial", minimum=0), help="trial number")
    which.add_argument("--arch-id", help="architecture id (12 hex digits)")
    which.add_argument("--pick", help='constraints and objectives, e.g. "latency_ms<=2,max:accuracy"')
    p.add_argument("--format", default="pytorch,onnx", help="among pytorch,onnx,torchscript,banked (default: pytorch,onnx)")
    p.add_argument("-o", "--out", help="export folder (default: <run>/exports/trial-<N>)")
    p.add_argument("--finetune-epochs", type=int_arg("--finetune-epochs", minimum=0), default=0,
                   help="fine-tune the exported model for E epochs (best validation epoch kept)")
    p.add_argument("--device", default="cpu", help="where latency is measured (cpu)")
    p.add_argument("--force", action="store_true", help="replace an existing export folder")
    p.add_argument("--runs-dir", default="runs")


def run(args: argparse.Namespace) -> int:
    """Exports the chosen trial and prints the verification summary."""
    from nas.export.pipeline import export_run

    res = export_run(args.run, args.runs_dir, trial=args.trial, arch_id=args.arch_id, pick=args.pick, out=args.out,
                     formats=args.format, finetune_epochs=args.finetune_epochs, device=args.device, force=args.force)
    v = res.verify
    print(f"exported {res.arch.arch_id} ({res.summary}) -> {res.path}")
    print(f"  files: {', '.join(res.files)}")
    print(f"  model.py + weights vs activated supernet: max |diff| {v['equality']['loaded_vs_supernet']:.3g} "
          f"(<= {v['equality']['atol']:g})")
    if "onnx" in v:
        print(f"  ONNX Runtime vs PyTorch: max |diff| {v['onnx']['max_abs_diff']:.3g} (<= {v['onnx']['atol']:g})")
    if "banked" in v:
        print(f"  banked (generated at load) vs supernet: max |diff| {v['banked']['max_abs_diff']:.3g}, "
              f"{v['banked']['stored_params']} stored parameters for {v['banked']['materialised_params']} materialised")
    if "torchscript" in v:
        print(f"  TorchScript vs PyTorch: max |diff| {v['torchscript']['max_abs_diff']:.3g}")
    lat = v["latency"]
    print(f"  latency: exported {lat['exported_ms']:.4g} ms vs activated supernet {lat['supernet_ms']:.4g} ms "
          f"(ratio {lat['ratio']:.3f}{'' if lat['not_higher'] else ', NOT lower: within noise?'})")
    if "finetune" in v:
        ft = v["finetune"]
        print(f"  fine-tuned {ft['epochs']} epoch(s): test accuracy {ft['test_before']:.2f}% -> {ft['test_after']:.2f}% "
              f"(validation {ft['val_before']:.2f}% -> {ft['val_after']:.2f}%)")
    print(f"  accuracy: validation {res.metrics['accuracy']:.2f}%, test {res.metrics['test_accuracy']:.2f}%")
    return 0
