"""Building a device's latency model, and the on-disk device cache keyed by fingerprint.

:func:`build_latency_model` (what ``nas profile`` runs):

1. draws ``samples`` distinct subnets for the correction (the largest and smallest included)
   and ``val_samples`` other subnets for validation, with the settings' own seeded generator;
2. enumerates layer configurations: it exports those subnets and up to ``lut_archs`` more random
   ones, stopping early once ``saturation`` subnets in a row bring no new unit key, and times
   every new unit once (``lut_protocol``: by default 50 warm-up calls, 200 timed calls in 2
   interleaved rounds - fewer warm-up calls than §5 asks of a reported figure, which a table
   entry is not);
3. times the correction and validation subnets end to end, in one pass (``protocol``,
   interleaved rounds);
4. fits the correction and reports validation figures (held-out, and leave-one-out on the
   training subnets).

:class:`DeviceCache` stores one layer table per device (shared by every space: keys describe
layers, not spaces) and one model per space and input shape, under a folder named by the
backend, timing settings and the fingerprint id of the machine that measured.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.profiling.backends import Item
from nas.profiling.devices import DeviceProfile, fingerprint_id
from nas.errors import invalid
from nas.profiling.latency_model import METHODS, Correction, LatencyModel, regression_figures, subnet_features
from nas.profiling.lut import DeviceTableError, LayerTable, layer_units, read_json_checked, write_json_atomic
from nas.profiling.measure import LatencyProtocol
from nas.space import Arch
from nas.supernet.base import Supernet

__all__ = ["ProfileSettings", "DeviceCache", "build_latency_model", "distinct_archs"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ProfileSettings:
    """How a latency model is built (see the module docstring).

    Attributes:
        samples: Subnets timed end to end to fit the correction (largest and smallest included).
        val_samples: Other subnets timed end to end for the validation figures.
        lut_archs: Extra random subnets explored for new layer configurations.
        saturation: Stop exploring after this many subnets in a row bring no new layer.
        rounds: Interleaved rounds of the end-to-end timings.
        protocol: End-to-end timing protocol.
        lut_protocol: Per-layer timing protocol.
        lut_rounds: Interleaved rounds of the per-layer timings.
        method: Correction method (:data:`~nas.profiling.latency_model.METHODS`).
        seed: Seed of the subnet sampling, inputs and timing order.
    """

    samples: int = 40
    val_samples: int = 20
    lut_archs: int = 300
    saturation: int = 60
    rounds: int = 4
    protocol: LatencyProtocol = field(default_factory=lambda: LatencyProtocol(warmup=100, repeats=400))
    lut_protocol: LatencyProtocol = field(default_factory=lambda: LatencyProtocol(warmup=50, repeats=200))
    lut_rounds: int = 2
    method: str = "rel_ridge"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 5:
            raise invalid("profile.samples", "be at least 5 (the correction is fit on them)", self.samples)
        for name in ("val_samples", "lut_archs", "saturation", "seed"):
            if getattr(self, name) < 0:
                raise invalid(f"profile.{name}", "be >= 0", getattr(self, name))
        for name in ("rounds", "lut_rounds"):
            if getattr(self, name) <= 0:
                raise invalid(f"profile.{name}", "be positive", getattr(self, name))
        if self.method not in METHODS:
            raise invalid("profile.method", f"be one of {list(METHODS)}", self.method)


def distinct_archs(supernet: Supernet, rng: np.random.Generator, n: int, exclude: set[str],
                   extremes: bool = False, max_tries: int = 20) -> list[Arch]:
    """Up to ``n`` distinct architectures not in ``exclude`` (bounded tries per architecture)."""
    out: list[Arch] = [a for a in ([supernet.max_arch(), supernet.min_arch()] if extremes else [])
                       if a.arch_id not in exclude][:n]
    seen = set(exclude) | {a.arch_id for a in out}
    for _ in range(n * max_tries):
        if len(out) >= n:
            break
        a = supernet.space.sample(rng)
        if a.arch_id not in seen:
            seen.add(a.arch_id)
            out.append(a)
    return out


class DeviceCache:
    """Device tables and latency models on disk.

    Args:
        root: Cache folder (e.g. ``~/.cache/sharenas/latency``).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, profile: DeviceProfile, fp: dict[str, str]) -> Path:
        """``<backend>-t<threads>-b<batch>[-min][-ray-<res>]-<fingerprint id>``."""
        where = f"-ray-{profile.resource}" if profile.resource else ""
        stat = "" if profile.statistic == "median" else f"-{profile.statistic}"
        return self.root / (f"{profile.backend}-t{profile.threads}-b{profile.batch_size}{stat}{where}-"
                            f"{fingerprint_id(fp, profile)}")

    def table_path(self, profile: DeviceProfile, fp: dict[str, str]) -> Path:
        """The device's layer table."""
        return self.folder(profile, fp) / "lut.json"

    def model_path(self, profile: DeviceProfile, fp: dict[str, str], space: str, input_shape: tuple[int, ...]) -> Path:
        """The model of one space and input shape."""
        shape = "x".join(str(s) for s in input_shape)
        return self.folder(profile, fp) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', space)}-{shape}.model.json"

    def load_table(self, profile: DeviceProfile, fp: dict[str, str]) -> LayerTable:
        """The stored table (empty when none); :class:`DeviceTableError` when corrupt."""
        path = self.table_path(profile, fp)
        return LayerTable.load(path)[0] if path.exists() else LayerTable()

    def save_table(self, table: LayerTable, profile: DeviceProfile, fp: dict[str, str]) -> Path:
        """Writes the table atomically."""
        path = self.table_path(profile, fp)
        write_json_atomic(path, table.to_dict({"device": profile.to_dict(), "fingerprint": fp,
                                               "fingerprint_id": fingerprint_id(fp, profile)}))
        return path

    def load_model(self, profile: DeviceProfile, fp: dict[str, str], space: str,
                   input_shape: tuple[int, ...]) -> LatencyModel | None:
        """The stored model (``None`` when absent); :class:`DeviceTableError` when corrupt."""
        path = self.model_path(profile, fp, space, input_shape)
        if not path.exists():
            return None
        data = read_json_checked(path, "latency model", ("format", "meta", "correction", "features"))
        try:
            return LatencyModel.from_dict(data, self.load_table(profile, fp))
        except (KeyError, TypeError, ValueError) as e:
            raise DeviceTableError(f"`latency model` must be a model written by `nas profile`, got {str(path)!r} "
                                   f"({type(e).__name__}: {e}); move it away or rerun `nas profile ... --rebuild`") from e

    def save_model(self, model: LatencyModel, profile: DeviceProfile, fp: dict[str, str], space: str) -> Path:
        """Writes the table and the model atomically; returns the model's path."""
        self.save_table(model.table, profile, fp)
        path = self.model_path(profile, fp, space, model.input_shape)
        write_json_atomic(path, model.to_dict())
        return path

    def set_aside(self, profile: DeviceProfile, fp: dict[str, str]) -> list[Path]:
        """Renames the device's files to ``*.corrupt-<time>`` (``--rebuild``: nothing is deleted)."""
        folder, moved = self.folder(profile, fp), []
        for p in sorted(folder.glob("*.json")) if folder.exists() else []:
            target = p.with_name(f"{p.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            p.rename(target)
            moved.append(target)
        return moved


def _explore(supernet: Supernet, archs: list[Arch], input_shape: tuple[int, ...], batch: int, table: LayerTable,
             rng: np.random.Generator, settings: ProfileSettings) -> tuple[list[Any], int]:
    """Unit calls of new keys over ``archs`` then random archs until saturation; returns (todo, explored)."""
    todo: dict[str, Item] = {}
    stale, explored = 0, 0
    extra = distinct_archs(supernet, rng, settings.lut_archs, {a.arch_id for a in archs})
    for i, arch in enumerate([*archs, *extra]):
        if i >= len(archs) and stale >= settings.saturation:
            break
        calls, modules = layer_units(supernet.export(arch).eval(), input_shape, batch)
        new = [u for u in table.missing(calls) if u.key not in todo]
        for u in new:
            todo[u.key] = (u, Item(modules[u.key], u.shapes))
        stale = 0 if new else stale + 1
        explored += 1
    return list(todo.values()), explored


def build_latency_model(supernet: Supernet, input_shape: tuple[int, ...], profile: DeviceProfile, measure: Any,
                        fp: dict[str, str], space_name: str, settings: ProfileSettings | None = None,
                        table: LayerTable | None = None, on_progress: Progress | None = None) -> LatencyModel:
    """Builds a device's latency model for one space (see the module docstring).

    Args:
        supernet: Any supernet of the space (weights do not matter for timing).
        input_shape: One input's shape (no batch).
        profile: The device.
        measure: Its measurer (``LocalMeasurer`` / ``RayMeasurer``).
        fp: The measuring machine's fingerprint.
        space_name: Name stored in the model.
        settings: Build settings.
        table: An existing table to extend (entries are reused, never re-timed).
        on_progress: ``(stage, done, total)`` callback.
    """
    s = settings or ProfileSettings()
    note = on_progress or (lambda stage, done, total: None)
    t0 = time.perf_counter()
    rng = np.random.default_rng(s.seed)
    supernet.eval()
    batch = profile.batch_size
    train = distinct_archs(supernet, rng, s.samples, set(), extremes=True)
    val = distinct_archs(supernet, rng, s.val_samples, {a.arch_id for a in train})
    table = table if table is not None else LayerTable()
    note("enumerate", 0, len(train) + len(val) + s.lut_archs)
    todo, explored = _explore(supernet, [*train, *val], input_shape, batch, table, rng, s)
    calls = 0
    for lo in range(0, len(todo), 64):
        part = todo[lo : lo + 64]
        note("layers", lo, len(todo))
        for (u, _), r in zip(part, measure([it for _, it in part], s.lut_protocol, s.lut_rounds, s.seed + lo)):
            table.entries[u.key] = {"ms": r.median_ms, "iqr_ms": r.iqr_ms, "calls": r.calls, "desc": u.desc}
            calls += r.calls
    node = getattr(measure, "node", "")

    # correction and validation subnets are timed in one interleaved pass, so that a change of
    # machine load between two passes cannot pass for a prediction error
    note("end-to-end", 0, len(train) + len(val))
    modules = [supernet.export(a).eval() for a in [*train, *val]]
    res = measure([Item(m, ((batch, *input_shape),)) for m in modules], s.protocol, s.rounds, s.seed + 7)
    calls += sum(r.calls for r in res)
    feats = np.stack([subnet_features(m, input_shape, table, batch)[0] for m in modules])
    times = np.array([r.median_ms for r in res])
    X, y = feats[: len(train)], times[: len(train)]
    corr = Correction.fit(X, y, s.method)
    fit_key, fit_pred = ("train_loo", corr.oof) if s.method == "rel_ridge" else ("train_fit", corr.predict(X)[0])
    figures: dict[str, Any] = {fit_key: regression_figures(y, fit_pred),
                               "lut_only_train": regression_figures(y, X[:, 0])}
    if val:
        Xv, yv = feats[len(train):], times[len(train):]
        figures["validation"] = regression_figures(yv, corr.predict(Xv)[0])
        figures["lut_only_validation"] = regression_figures(yv, Xv[:, 0])
    meta = {"device": profile.to_dict(), "fingerprint": fp, "fingerprint_id": fingerprint_id(fp, profile),
            "space": space_name, "node": node or getattr(measure, "node", ""), "settings": asdict(s),
            "layers": len(table), "layers_timed": len(todo), "subnets_explored": explored, "calls_measured": calls,
            "seconds": time.perf_counter() - t0, "figures": figures, "built_at": time.time()}
    note("done", 1, 1)
    return LatencyModel(table, corr, input_shape, batch, meta)
