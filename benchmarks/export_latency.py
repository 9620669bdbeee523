"""Export latency and equality: exported ``model.py`` vs the activated supernet vs a hand-written model.

For each space in ``spaces`` (cnn1d, mbconv, tinylm by default), a supernet is trained briefly on
a slice of the space's default task; a sample of its subnets (the largest, the smallest and
random ones) is exported with :func:`nas.export.export_arch` (which verifies equality to 1e-5),
then three forms are timed, interleaved call by call, under the §5 protocol (1 thread, batch 1,
100 warm-up calls, median of 200, random inputs): the loaded export, the activated supernet
(BatchNorm recalibrated like the export), and the hand-written static model of
:mod:`benchmarks.hand_models` loaded with the same weights. The acceptance figures per space:
exported <= supernet, and exported within 5% of the hand-written model.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.hand_models import HAND_MODELS, HandCNN1d

__all__ = ["HandCNN1d", "run"]


def _one(net: Any, task: Any, arch: Any, protocol: Any, folder: Path, space: str) -> dict[str, Any]:
    from nas.evaluate import EvalConfig
    from nas.export import export_arch, load_export
    from nas.export.verify import interleaved_latency, max_abs_diff, recalibrated_reference

    cfg = EvalConfig(calib_batches=2, calib_batch_size=128, latency=protocol)
    res = export_arch(net, task, arch, folder, eval_config=cfg, formats=("pytorch",))
    loaded = load_export(folder).model
    ref = recalibrated_reference(net, arch, [task.train.x[:128], task.train.x[128:256]])
    hand = HAND_MODELS[space](arch.to_dict(), task.input_shape, task.num_classes).load_from(loaded)
    x = task.val.x[:128]
    with torch.no_grad():
        hand_err = max_abs_diff(hand(x), loaded(x))
    lat = interleaved_latency({"exported": loaded, "supernet": ref, "hand": hand}, task.input_shape, protocol)
    e, s, h = (lat[k].median_ms for k in ("exported", "supernet", "hand"))
    return {"arch_id": arch.arch_id, "arch": arch.to_dict(), "equality_vs_supernet": res.verify["equality"]["loaded_vs_supernet"],
            "hand_vs_exported": hand_err, "exported_ms": e, "supernet_ms": s, "hand_ms": h,
            "iqr_ms": {k: v.iqr_ms for k, v in lat.items()}, "exported_over_supernet": e / s, "exported_over_hand": e / h}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ratios_s = [r["exported_over_supernet"] for r in rows]
    ratios_h = [r["exported_over_hand"] for r in rows]
    return {
        "max_equality_vs_supernet": max(r["equality_vs_supernet"] for r in rows),
        "max_hand_vs_exported": max(r["hand_vs_exported"] for r in rows),
        "exported_over_supernet_median": float(np.median(ratios_s)), "exported_over_supernet_max": max(ratios_s),
        "exported_over_hand_median": float(np.median(ratios_h)), "exported_over_hand_max": max(ratios_h),
        "exported_not_slower_than_supernet": all(r <= 1.0 for r in ratios_s),
        "within_5pct_of_hand": all(r <= 1.05 for r in ratios_h),
    }


def _space(name: str, n_archs: int, epochs: int, train_samples: int, protocol: Any, seed: int) -> dict[str, Any]:
    from nas.catalog import SPACES
    from nas.data import TASKS, Split
    from nas.supernet.base import seeded_build
    from nas.train import TrainConfig, Trainer

    spec = SPACES.get(name)
    if name not in HAND_MODELS:
        raise ValueError(f"`spaces` must list spaces with a hand-written model {sorted(HAND_MODELS)}, got {name!r}")
    task = TASKS.get(spec.default_task).load(seed)
    task = dataclasses.replace(task, train=Split(task.train.x[:train_samples], task.train.y[:train_samples]))
    space = spec.build_space()
    net = seeded_build(lambda: spec.build_supernet(space, task), seed)
    if epochs:
        Trainer(net, task, TrainConfig(epochs=epochs, threads=1, warmup_epochs=0, num_random=1), seed).fit()
    net.eval()
    rng = np.random.default_rng(seed)
    archs = [net.max_arch(), net.min_arch()] + [space.sample(rng) for _ in range(max(0, n_archs - 2))]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_one(net, task, a, protocol, Path(tmp) / f"e{i}", name) for i, a in enumerate(archs[:n_archs])]
    return {"space": name, "task": task.name, "input_shape": list(task.input_shape), "train_samples": len(task.train),
            "epochs": epochs, "archs": rows, "summary": _summary(rows)}


def run(spaces: str = "cnn1d,mbconv,tinylm", n_archs: int = 6, epochs: int = 1, train_samples: int = 1024,
        warmup: int = 100, repeats: int = 200, seed: int = 0, out: str | None = None) -> dict[str, Any]:
    """Exports ``n_archs`` subnets per space and times exported vs supernet vs hand-written forms.

    Args:
        spaces: Comma-separated spaces (each needs a model in :data:`benchmarks.hand_models.HAND_MODELS`).
        n_archs: Subnets per space: the largest, the smallest, then random ones.
        epochs: Supernet training epochs (latency does not depend on accuracy).
        train_samples: Training samples used (the first ones of the task's training split).
        warmup: Untimed calls per candidate.
        repeats: Timed calls per candidate (interleaved).
        seed: Seed of the sample and the training.
        out: JSON file to write.
    """
    import search_spaces  # noqa: F401
    from nas.profiling.measure import LatencyProtocol

    if n_archs < 1:
        raise ValueError(f"`n_archs` must be at least 1, got {n_archs}")
    torch.set_num_threads(1)
    protocol = LatencyProtocol(warmup=warmup, repeats=repeats, threads=1, batch_size=1)
    names = [s.strip() for s in spaces.split(",") if s.strip()]
    load_before = os.getloadavg()
    per_space = [_space(n, n_archs, epochs, train_samples, protocol, seed) for n in names]
    payload = {
        "benchmark": "export_latency", "spaces": names, "n_archs": n_archs,
        "latency_protocol": f"1 thread, batch 1, warm-up {warmup}, median of {repeats}, interleaved call by call",
        "cpus": os.cpu_count(), "loadavg_1_5_15": {"before": list(load_before), "after": list(os.getloadavg())},
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
        "results": per_space,
        "summary": {r["space"]: r["summary"] for r in per_space},
    }
    if out:
        from benchmarks.results_io import write_result

        write_result(payload, out)
    return payload
