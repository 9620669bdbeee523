"""Export latency and equality: exported ``model.py`` vs the activated supernet vs a hand-written model.

For a sample of cnn1d subnets (the largest, the smallest and random ones) of a briefly trained
supernet, each subnet is exported with :func:`nas.export.export_arch` (which verifies equality
to 1e-5), then three forms are timed, interleaved, under the §5 protocol (1 thread, batch 1,
100 warm-up calls, median of 200): the loaded export, the activated supernet, and
:class:`HandCNN1d`, a static model written by hand for the same architecture and loaded with the
same weights. The acceptance figures: exported <= supernet, and exported within 5% of the
hand-written model.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HandCNN1d", "run"]


class HandCNN1d(nn.Module):
    """A cnn1d subnet written by hand: a flat list of conv, BN, conv, BN, ... and a linear head.

    Args:
        arch: The architecture's choices (``s{s}.depth``, ``s{s}.width``, ``s{s}.b{b}.kernel``).
        in_channels: Input channels.
        length: Input length.
        num_classes: Output classes.
    """

    def __init__(self, arch: dict[str, Any], in_channels: int = 1, length: int = 40, num_classes: int = 10) -> None:
        super().__init__()
        width = int(arch["s1.width"])
        self.ops = nn.ModuleList([nn.Conv1d(in_channels, width, 5, padding=2, bias=False), nn.BatchNorm1d(width)])
        self.residual: list[bool] = [False]
        for s in (1, 2, 3):
            out = int(arch[f"s{s}.width"])
            for b in range(1, int(arch[f"s{s}.depth"]) + 1):
                k = int(arch[f"s{s}.b{b}.kernel"])
                stride = 2 if (b == 1 and s > 1) else 1
                self.ops.append(nn.Conv1d(width, out, k, stride=stride, padding=k // 2, bias=False))
                self.ops.append(nn.BatchNorm1d(out))
                self.residual.append(b > 1)
                width = out
        self.head = nn.Linear(width * (length // 4), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        for conv, bn, res in zip(self.ops[0::2], self.ops[1::2], self.residual):
            out = F.relu(bn(conv(x)))
            x = x + out if res else out
        return self.head(x.flatten(1))

    def load_from(self, module: nn.Module) -> HandCNN1d:
        """Copies the weights of an exported cnn1d module (same tensors, in the same order)."""
        mine, theirs = self.state_dict(), module.state_dict()
        if [v.shape for v in mine.values()] != [v.shape for v in theirs.values()]:
            raise ValueError("`module` must be the same cnn1d architecture, got tensors of other shapes")
        self.load_state_dict(dict(zip(mine.keys(), theirs.values())))
        return self.eval()


def _one(net: Any, task: Any, arch: Any, protocol: Any, folder: Path) -> dict[str, Any]:
    from nas.evaluate import EvalConfig
    from nas.export import export_arch, load_export
    from nas.export.verify import interleaved_latency, max_abs_diff, recalibrated_reference

    res = export_arch(net, task, arch, folder, eval_config=EvalConfig(latency=protocol), formats=("pytorch",))
    loaded = load_export(folder).model
    ref = recalibrated_reference(net, arch, [task.train.x[:256]])
    hand = HandCNN1d(arch.to_dict(), task.input_shape[0], task.input_shape[1], task.num_classes).load_from(loaded)
    x = task.val.x[:256]
    with torch.no_grad():
        hand_err = max_abs_diff(hand(x), loaded(x))
    lat = interleaved_latency({"exported": loaded, "supernet": ref, "hand": hand}, task.input_shape, protocol)
    e, s, h = (lat[k].median_ms for k in ("exported", "supernet", "hand"))
    return {"arch_id": arch.arch_id, "arch": arch.to_dict(), "equality_vs_supernet": res.verify["equality"]["loaded_vs_supernet"],
            "hand_vs_exported": hand_err, "exported_ms": e, "supernet_ms": s, "hand_ms": h,
            "iqr_ms": {k: v.iqr_ms for k, v in lat.items()}, "exported_over_supernet": e / s, "exported_over_hand": e / h}


def run(n_archs: int = 6, epochs: int = 1, warmup: int = 100, repeats: int = 200, seed: int = 0,
        out: str | None = None) -> dict[str, Any]:
    """Exports ``n_archs`` cnn1d subnets and times exported vs supernet vs hand-written forms.

    Args:
        n_archs: Subnets: the largest, the smallest, then random ones.
        epochs: Supernet training epochs (latency does not depend on accuracy).
        warmup: Untimed calls per candidate.
        repeats: Timed calls per candidate (interleaved).
        seed: Seed of the sample and the training.
        out: JSON file to write.
    """
    import search_spaces  # noqa: F401
    from nas.catalog import SPACES
    from nas.data import TASKS
    from nas.profiling.measure import LatencyProtocol
    from nas.supernet.base import seeded_build
    from nas.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    spec, task = SPACES.get("cnn1d"), TASKS.get("mnist1d").load(seed)
    space = spec.build_space()
    net = seeded_build(lambda: spec.build_supernet(space, task), seed)
    Trainer(net, task, TrainConfig(epochs=epochs, threads=1), seed).fit()
    net.eval()
    rng = np.random.default_rng(seed)
    archs = [net.max_arch(), net.min_arch()] + [space.sample(rng) for _ in range(max(0, n_archs - 2))]
    protocol = LatencyProtocol(warmup=warmup, repeats=repeats, threads=1, batch_size=1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_one(net, task, a, protocol, Path(tmp) / f"e{i}") for i, a in enumerate(archs[:n_archs])]
    ratios_s = [r["exported_over_supernet"] for r in rows]
    ratios_h = [r["exported_over_hand"] for r in rows]
    payload = {
        "benchmark": "export_latency", "space": "cnn1d", "task": "mnist1d", "n_archs": len(rows),
        "latency_protocol": f"1 thread, batch 1, warm-up {warmup}, median of {repeats}, interleaved",
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
        "archs": rows,
        "summary": {
            "max_equality_vs_supernet": max(r["equality_vs_supernet"] for r in rows),
            "max_hand_vs_exported": max(r["hand_vs_exported"] for r in rows),
            "exported_over_supernet_max": max(ratios_s), "exported_over_supernet_median": float(np.median(ratios_s)),
            "exported_over_hand_median": float(np.median(ratios_h)), "exported_over_hand_max": max(ratios_h),
            "exported_not_slower_than_supernet": all(r <= 1.0 for r in ratios_s),
            "within_5pct_of_hand": all(r <= 1.05 for r in ratios_h),
        },
    }
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(payload, indent=2))
    return payload
