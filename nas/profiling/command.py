"""``nas profile --space S --device D``: build (or refresh) a device's latency model and show its figures.

For a trainable space it builds the per-layer table and the learned correction of the device
(:func:`~nas.profiling.sources.load_or_build_model`), stores both in the device cache keyed by
the fingerprint of the machine that measured, and prints the held-out validation figures
(share within ±10%, Spearman, MAPE) beside those of the bare layer-table sum. For a table-backed
space the device is one of its latency columns: a model is fit from ``--samples`` rows of the
table (``--transfer-from`` other columns: few-shot transfer) and scored on held-out rows.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nas.argtypes import int_arg
from nas.errors import invalid

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Adds the ``profile`` sub-command."""
    p = sub.add_parser("profile", help="build / refresh a device latency model (LUT + learned correction)")
    p.add_argument("--space", required=True, help="registered space (e.g. cnn1d, nb201)")
    p.add_argument("--device", required=True,
                   help="cpu-torch | cpu-ts | cpu-ort | cuda | ray:<resource>[:<device>] (suffixes @tN threads, "
                        "@bN batch); for a table space one of its latency columns")
    p.add_argument("--task", help="task (default: the space's first)")
    p.add_argument("--samples", type=int_arg("--samples", minimum=0), help="subnets timed end to end for the correction "
                   "(table spaces: rows 'measured')")
    p.add_argument("--val-samples", type=int_arg("--val-samples", minimum=0), help="held-out subnets for validation figures")
    p.add_argument("--method", help="correction: rel_ridge (default) or lut_correction")
    p.add_argument("--transfer-from", help="table spaces: comma-separated source devices for few-shot transfer")
    p.add_argument("--cache", help="device cache folder (default: $SHARENAS_CACHE/latency)")
    p.add_argument("--ray-address", help="Ray cluster holding the device's node (ray: devices)")
    p.add_argument("--rebuild", action="store_true", help="set stored files aside (renamed) and build anew")
    p.add_argument("--seed", type=int_arg("--seed", minimum=0), default=0)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Runs ``nas profile``; returns the exit code."""
    from nas.catalog import SPACES

    spec = SPACES.get(args.space, "space")
    result = _profile_table(spec, args) if not spec.trainable else _profile_device(spec, args)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print(result)
    return 0


def _profile_device(spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import replace

    from nas.data import TASKS
    from nas.profiling.devices import parse_device
    from nas.profiling.profiler import ProfileSettings
    from nas.profiling.sources import load_or_build_model
    from nas.supernet.base import seeded_build

    if args.transfer_from:
        raise invalid("--transfer-from", "be used with a table-backed space only", args.transfer_from)
    profile = parse_device(args.device)
    if profile.is_table:
        raise invalid("--device", f"name a timing device for trainable space `{spec.name}`", args.device)
    task_name = args.task or spec.default_task
    if task_name not in spec.tasks:
        raise invalid("--task", f"be one of {list(spec.tasks)} for space `{spec.name}`", task_name)
    task = TASKS.get(task_name, "task").load(0)
    net = seeded_build(lambda: spec.build_supernet(spec.build_space(), task), args.seed).eval()
    settings = ProfileSettings(seed=args.seed)
    for key, value in (("samples", args.samples), ("val_samples", args.val_samples), ("method", args.method)):
        if value is not None:
            settings = replace(settings, **{key: value})

    def progress(stage: str, done: int, total: int) -> None:
        print(f"  [{stage}] {done}/{total}", flush=True)

    model, _, built = load_or_build_model(profile, net, spec.name, tuple(task.input_shape), args.cache,
                                          args.ray_address, settings, args.rebuild, progress)
    meta = model.meta
    return {"space": spec.name, "device": args.device, "built_now": built, "fingerprint_id": meta["fingerprint_id"],
            "fingerprint": meta["fingerprint"], "node": meta.get("node", ""), "layers": meta["layers"],
            "subnets_explored": meta.get("subnets_explored"), "seconds": round(float(meta.get("seconds", 0.0)), 1),
            "figures": meta["figures"]}


def _profile_table(spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    from nas.profiling.table_devices import fit_table_model

    sources = tuple(s.strip() for s in (args.transfer_from or "").split(",") if s.strip())
    n = args.samples if args.samples is not None else 20
    model = fit_table_model(spec, args.device, n, args.seed, sources)
    return {"space": spec.name, "device": f"table:{model.device.device}", "samples": n,
            "sources": [s.device for s in model.sources], "figures": {"held_out": model.figures}}


def _print(result: dict[str, Any]) -> None:
    head = {k: v for k, v in result.items() if k not in ("figures", "fingerprint")}
    for key, value in head.items():
        print(f"{key:>17}: {value}")
    print(f"{'figures':>17}:  {'n':>5} {'within±10%':>10} {'spearman':>8} {'kendall':>8} {'MAPE%':>7}")
    for name, f in result["figures"].items():
        print(f"{name:>17}:  {int(f['n']):>5} {100 * f['within_10']:>9.1f}% {f['spearman']:>8.3f} "
              f"{f['kendall_tau']:>8.3f} {100 * f['mape']:>7.2f}")
