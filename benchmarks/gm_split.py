"""Gradient-matching splits (issue 9): do they rank subnets better than one shared supernet?

Part 1, ``cell1d`` (64 architectures): every architecture is trained stand-alone
(``standalone_seeds`` seeds, cached in ``ground_truth`` so that reruns are cheap) as the ground
truth. Per supernet seed, four supernets are trained for the same ``epochs`` per (sub-)supernet,
counting the epochs a sub-supernet inherited (the GM-NAS protocol; compute grows with the number
of sub-supernets and is reported):

- ``one_shot``: one supernet, no split;
- ``exhaustive``: at ``split_epoch`` split on ``exhaustive_label`` into one sub-supernet per
  operation (few-shot NAS);
- ``gm``: at ``split_epoch`` one gradient-matching split (the edge with the largest cut score,
  its operations in two groups by min-cut);
- ``random_split``: the same number of sub-supernets as ``gm``, a random edge and a random
  balanced partition (control: is it the matching or just the split?);
- ``gm4`` (when ``gm4``): two gradient-matching rounds at ``split_epoch`` (4 sub-supernets, as many
  as ``exhaustive``), each sub-supernet split along its own worst layer;
- ``random4`` (when listed in ``variants``): two random rounds (4 sub-supernets), the control of ``gm4``.

All 64 architectures are scored through each (routed to their sub-supernet, BN recalibrated,
validation split) and compared with the stand-alone mean by Kendall tau.

Part 2, ``cnn1d``: the stand-alone accuracies of the ranking benchmark's fixed sample
(``cnn1d_reuse``, same archs and recipe) against a one-shot supernet and a gm-split one, tau
before and after splitting, over ``cnn1d_seeds`` seeds.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.errors import ConfigError, invalid

__all__ = ["run"]

VARIANTS = ("one_shot", "exhaustive", "gm", "random_split", "gm4", "random4")


def _log(msg: str) -> None:
    print(f"[gm-split {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _ground_truth(space: Any, build: Any, task: Any, archs: list[Any], cfg: Any, seeds: list[int], path: str,
                  key: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Stand-alone accuracies ``(n_seeds, n_archs)``; seeds already in ``path`` (same key and archs)
    are reused, each new seed is added to it as soon as it is done. Returns them and the reused count."""
    from benchmarks.ranking import train_standalone
    from benchmarks.results_io import write_result
    from nas.evaluate import accuracy
    from nas.supernet.base import seeded_build

    ids = [a.arch_id for a in archs]
    done: list[list[float]] = []
    file = Path(path)
    if file.exists():
        saved = json.loads(file.read_text())
        if saved.get("key") == key and saved.get("arch_ids") == ids:
            done = [list(map(float, row)) for row in saved.get("accuracy", [])][: len(seeds)]
        else:
            _log(f"ground truth {path} was measured with other settings: retraining")
    reused = len(done)
    for seed in seeds[reused:]:
        net = seeded_build(lambda: build(space, task), seed)
        row = []
        for ai, arch in enumerate(archs):
            row.append(accuracy(train_standalone(net.export(arch), task, cfg, seed + ai), task.val))
            if (ai + 1) % 16 == 0:
                _log(f"stand-alone seed {seed}: {ai + 1}/{len(archs)} archs")
        done.append(row)
        write_result({"key": key, "arch_ids": ids, "archs": [a.to_dict() for a in archs], "seeds": seeds[: len(done)],
                     "accuracy": done}, path)
        _log(f"stand-alone seed {seed}: mean {np.mean(row):.2f}%")
    return np.array(done), reused


def _exhaustive_trainer(label: str) -> type:
    from nas.sharing.gm_split import LayerSplit
    from nas.sharing.gm_train import GMTrainer

    class Exhaustive(GMTrainer):
        """Splits sub-supernet 0 into one sub-supernet per option of ``label`` (few-shot NAS)."""

        def split_round(self, epoch: int, on_split: Any = None) -> list[Any]:
            opts = list(self.net.sub(0).space.choice(label).options)
            index = 0
            for i in range(len(opts) - 1):
                rest = tuple(opts[i + 1:])
                index = self.split(index, LayerSplit(label, ((opts[i],), rest), 0.0, tuple(opts[i:]), ()), epoch)["child"]
            return []

    return Exhaustive


def _random_trainer(labels: tuple[str, ...], seed: int) -> type:
    from nas.sharing.gm_split import LayerSplit
    from nas.sharing.gm_train import GMTrainer

    class RandomSplit(GMTrainer):
        """Splits every sub-supernet (up to ``max_subnets``) along a random label with 2+ options
        left into a random balanced partition."""

        def split_round(self, epoch: int, on_split: Any = None) -> list[Any]:
            for index in range(len(self.net)):
                if len(self.net) >= self.settings.max_subnets:
                    break
                rng = np.random.default_rng(seed if len(self.net) == 1 else [seed, len(self.net), index])
                space = self.net.sub(index).space
                free = [lb for lb in labels if len(space.choice(lb).options) > 1]
                label = free[int(rng.integers(len(free)))]
                opts = list(space.choice(label).options)
                perm = [opts[i] for i in rng.permutation(len(opts))]
                half = len(opts) // 2
                self.split(index, LayerSplit(label, (tuple(perm[:half]), tuple(perm[half:])), 0.0, tuple(opts), ()), epoch)
            return []

    return RandomSplit


def _train_variant(variant: str, space: Any, build: Any, task: Any, cfg: Any, seed: int, split_epoch: int,
                   labels: tuple[str, ...], exhaustive_label: str, gm_batches: int) -> tuple[Any, dict[str, Any]]:
    from nas.sharing.gm_train import GMSettings, GMTrainer
    from nas.sharing.routed import SubSupernets
    from nas.supernet.base import seeded_build

    net = seeded_build(lambda: SubSupernets(build(space, task)), seed)
    schedule = () if variant == "one_shot" else (split_epoch,)
    four = variant in ("gm4", "random4")
    settings = GMSettings(schedule, labels, gm_batches, max_subnets=4 if four else 2, rounds=2 if four else 1)
    cls = {"one_shot": GMTrainer, "gm": GMTrainer, "gm4": GMTrainer, "exhaustive": _exhaustive_trainer(exhaustive_label),
           "random_split": _random_trainer(labels, seed), "random4": _random_trainer(labels, seed)}[variant]
    t0 = time.perf_counter()
    stats = cls(net, task, cfg, seed, settings).fit()
    info = {"seconds": time.perf_counter() - t0, "subnets": len(net), "structure": net.structure,
            "splits": [{k: h[k] for k in ("label", "groups", "score")} for h in net.history],
            "subnet_epochs": split_epoch + len(net) * (cfg.epochs - split_epoch) if schedule else cfg.epochs,
            "final_loss_max": stats[-1].loss_max if stats else None}
    return net.eval(), info


def _scores(net: Any, task: Any, archs: list[Any], seed: int, calib_batches: int) -> list[float]:
    from nas.evaluate import EvalConfig, Evaluator, accuracy

    evaluator = Evaluator(net, task, EvalConfig(calib_batches=calib_batches, score_test=False))
    return [accuracy(evaluator.static_subnet(a, seed), task.val) for a in archs]


def _variants(text: str, gm4: bool) -> list[str]:
    if not text:
        return [v for v in VARIANTS if v not in ("gm4", "random4") or (v == "gm4" and gm4)]
    chosen = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in chosen if v not in VARIANTS]
    if bad or not chosen:
        raise invalid("variants", f"list variants among {list(VARIANTS)}", text)
    return chosen


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _cell_part(opts: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.ranking import resize_task
    from nas.catalog import SPACES
    from nas.data import TASKS
    from nas.search.loop import derive_seed
    from nas.train import TrainConfig
    from predictors.metrics import kendall_tau

    spec = SPACES.get("cell1d")
    space, build = spec.build_space(), spec.build_supernet
    task = resize_task(TASKS.get("mnist1d").load(0), opts["train_samples"], opts["val_samples"])
    archs = list(space.enumerate())
    sa_cfg = TrainConfig(epochs=opts["standalone_epochs"], batch_size=opts["batch_size"], lr=opts["lr"], warmup_epochs=1,
                         num_random=0, distill=False)
    key = {"space": "cell1d", "epochs": opts["standalone_epochs"], "seeds": opts["standalone_seeds"],
           "train_samples": len(task.train), "val_samples": len(task.val), "batch_size": opts["batch_size"], "lr": opts["lr"]}
    t0 = time.perf_counter()
    sa, reused = _ground_truth(space, build, task, archs, sa_cfg,
                               [derive_seed(opts["seed"], 20, i) for i in range(opts["standalone_seeds"])],
                               opts["ground_truth"], key)
    t_sa = time.perf_counter() - t0
    mean = sa.mean(axis=0)
    ceiling = [kendall_tau(sa[i], sa[j]) for i, j in itertools.combinations(range(len(sa)), 2)]
    cfg = TrainConfig(epochs=opts["epochs"], batch_size=opts["batch_size"], lr=opts["lr"], warmup_epochs=1,
                      num_random=opts["num_random"], distill=True)
    labels = tuple(c.label for c in space.choices)
    variants = _variants(opts["variants"], opts["gm4"])
    per_seed: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for s in range(opts["seeds"]):
        seed = derive_seed(opts["seed"], 30, s)
        for variant in variants:
            net, info = _train_variant(variant, space, build, task, cfg, seed, opts["split_epoch"], labels,
                                       opts["exhaustive_label"] or labels[0], opts["gm_batches"])
            acc = _scores(net, task, archs, seed, opts["calib_batches"])
            info["kendall_tau"] = kendall_tau(mean, acc)
            per_seed[variant].append(info | {"seed": seed, "accuracy": acc})
            _log(f"cell1d seed {s} {variant}: tau {info['kendall_tau']:.3f} subnets {info['subnets']} "
                 f"splits {info['splits'] and [(h['label'], h['groups']) for h in info['splits']]} ({info['seconds']:.0f}s)")
    taus = {v: [r["kendall_tau"] for r in rows] for v, rows in per_seed.items()}
    diffs = {v: [a - b for a, b in zip(t, taus["one_shot"])] for v, t in taus.items() if v != "one_shot" and "one_shot" in taus}
    gain = diffs.get("gm")
    return {
        "archs": len(archs), "standalone_seeds_reused": reused, "standalone_seconds": t_sa,
        "standalone_range": [float(mean.min()), float(mean.max())], "noise_ceiling_tau": float(np.mean(ceiling)),
        "kendall_tau": {v: _summary(t) | {"per_seed": t} for v, t in taus.items()},
        "minus_one_shot": {v: _summary(d) | {"per_seed": d, "seeds_better": int(sum(g > 0 for g in d))} for v, d in diffs.items()},
        "gm_minus_one_shot": (_summary(gain) | {"per_seed": gain, "seeds_better": int(sum(g > 0 for g in gain))}) if gain else None,
        "runs": {v: [{k: r[k] for k in r if k != "accuracy"} for r in rows] for v, rows in per_seed.items()},
        "standalone_mean": mean.tolist(), "arch_ids": [a.arch_id for a in archs],
    }


def _cnn1d_part(opts: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.ranking import resize_task, sample_archs
    from nas.data import TASKS
    from nas.search.loop import derive_seed
    from nas.train import TrainConfig
    from predictors.metrics import kendall_tau
    from search_spaces.cnn1d import CNN1dSupernet, build_cnn1d_space

    try:
        prev = json.loads(Path(opts["cnn1d_reuse"]).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"`cnn1d_reuse` must name a readable ranking result JSON, got {opts['cnn1d_reuse']!r} ({e})") from None
    key = prev["standalone_key"]
    space = build_cnn1d_space(tuple(key["widths"]) or (8, 16, 32, 48))
    archs = sample_archs(space, prev["n_archs"], derive_seed(key["seed"], 10))
    if [a.arch_id for a in archs] != [r["arch_id"] for r in prev["archs"]]:
        raise ConfigError(f"`cnn1d_reuse` {opts['cnn1d_reuse']!r} must hold the ranking sample of its own key, got other archs")
    mean = np.array([r["standalone"] for r in prev["archs"]]).mean(axis=1)
    task = resize_task(TASKS.get("mnist1d").load(0), key["train_samples"], key["val_samples"])

    def build(s: Any, t: Any) -> Any:
        return CNN1dSupernet(s, t.input_shape[0], t.input_shape[1], t.num_classes, bn_per_width=opts["cnn1d_bn_per_width"])

    cfg = TrainConfig(epochs=opts["cnn1d_epochs"], batch_size=key["batch_size"], lr=key["lr"], warmup_epochs=1,
                      num_random=opts["num_random"], distill=True)
    labels = tuple(c.label for c in space.choices if c.when is None and len(c.options) > 1)
    taus: dict[str, list[float]] = {"one_shot": [], "gm": []}
    runs: dict[str, list[dict[str, Any]]] = {"one_shot": [], "gm": []}
    for s in range(opts["cnn1d_seeds"]):
        seed = derive_seed(opts["seed"], 40, s)
        for variant in ("one_shot", "gm"):
            net, info = _train_variant(variant, space, build, task, cfg, seed, opts["cnn1d_epochs"] // 2, labels, "",
                                       opts["gm_batches"])
            tau = kendall_tau(mean, _scores(net, task, archs, seed, opts["calib_batches"]))
            taus[variant].append(tau)
            runs[variant].append(info | {"seed": seed, "kendall_tau": tau})
            _log(f"cnn1d seed {s} {variant}: tau {tau:.3f} splits {[(h['label'], h['groups']) for h in info['splits']]} "
                 f"({info['seconds']:.0f}s)")
    return {"standalone_from": opts["cnn1d_reuse"], "standalone_key": key, "archs": len(archs),
            "noise_ceiling_tau": prev.get("noise_ceiling_tau"), "split_epoch": opts["cnn1d_epochs"] // 2,
            "candidate_labels": list(labels), "bn_per_width": opts["cnn1d_bn_per_width"],
            "kendall_tau": {v: _summary(t) | {"per_seed": t} for v, t in taus.items()}, "runs": runs}


def run(epochs: int = 8, split_epoch: int = 4, seeds: int = 5, standalone_epochs: int = 6, standalone_seeds: int = 2,
        train_samples: int = 2000, val_samples: int = 1500, batch_size: int = 128, lr: float = 5e-3, num_random: int = 1,
        gm_batches: int = 4, calib_batches: int = 8, exhaustive_label: str = "", seed: int = 0,
        ground_truth: str = "",
        gm4: bool = False, variants: str = "", cnn1d: bool = True, cnn1d_epochs: int = 8, cnn1d_seeds: int = 2, cnn1d_bn_per_width: bool = True,
        cnn1d_reuse: str = "", target_gain: float = 0.05,
        out: str | None = None) -> dict[str, Any]:
    """Measures Kendall tau of one-shot, exhaustive-split, gm-split and random-split supernets.

    Args:
        epochs: Epochs per (sub-)supernet, inherited ones included. split_epoch: When splits happen.
        seeds: Supernet seeds (cell1d). standalone_epochs / standalone_seeds: Ground-truth recipe.
        train_samples / val_samples: Task resize (validation scores everything).
        batch_size, lr, num_random: Training recipe. gm_batches: Batches per gradient estimate.
        calib_batches: BN recalibration batches per evaluation.
        exhaustive_label: Edge of the exhaustive split (default: the first).
        seed: Seed every other seed derives from.
        ground_truth: Cache file of the cell1d stand-alone accuracies (default:
            ``benchmarks/results/gm_split_ground_truth.json``).
        gm4: Also train the 4-sub-supernet gradient-matching variant.
        variants: Comma-separated variants to train instead of the default set (e.g. ``one_shot,random4``).
        cnn1d: Run part 2. cnn1d_epochs / cnn1d_seeds / cnn1d_bn_per_width: Its supernets.
        cnn1d_reuse: Ranking result whose stand-alone accuracies are the cnn1d ground truth (default:
            ``benchmarks/results/ranking_cnn1d_w4-16_bnpw.json``).
        target_gain: Acceptance target (gm tau minus one-shot tau, mean over seeds).
        out: JSON file.
    """
    from benchmarks import RESULTS_DIR

    ground_truth = ground_truth or str(RESULTS_DIR / "gm_split_ground_truth.json")
    cnn1d_reuse = cnn1d_reuse or str(RESULTS_DIR / "ranking_cnn1d_w4-16_bnpw.json")
    opts = {k: v for k, v in locals().items() if k != "RESULTS_DIR"}
    import search_spaces  # noqa: F401  (registers the spaces)

    if not 0 < split_epoch < epochs or seeds < 1 or standalone_seeds < 2:
        raise invalid("split_epoch/seeds/standalone_seeds", f"be in (0, epochs={epochs}), >= 1 and >= 2",
                      (split_epoch, seeds, standalone_seeds))
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cell = _cell_part(opts)
    part2 = _cnn1d_part(opts) if cnn1d else None
    gain = cell["gm_minus_one_shot"]["mean"] if cell["gm_minus_one_shot"] else None
    payload = {
        "benchmark": "gm-split", "settings": {k: v for k, v in opts.items() if k != "out"},
        "protocol": "equal epochs per (sub-)supernet, inherited epochs included (GM-NAS); ground truth = mean of "
                    "stand-alone seeds; scores on the validation split after BN recalibration",
        "cell1d": cell, "cnn1d": part2, "target_gain": target_gain, "gain": gain,
        "meets_target": None if gain is None else bool(gain >= target_gain),
        "seconds": time.perf_counter() - t0,
        "machine": {"cpus": os.cpu_count(), "threads": 1, "processor": platform.processor() or platform.machine()},
    }
    if out:
        from benchmarks.results_io import write_result

        write_result(payload, out)
    _log("cell1d tau: " + ", ".join(f"{v} {t['mean']:.3f}" for v, t in cell["kendall_tau"].items())
         + f"; gain {gain if gain is None else round(gain, 3)}; {payload['seconds']:.0f}s")
    return payload
