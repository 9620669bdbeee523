"""Latency sources for the evaluator, and re-measuring a search's Pareto set on the device.

``Evaluator(latency=make_latency_source(...))`` asks ``source.latency(arch, module)`` for every
subnet. Two kinds, both picklable (they travel inside the evaluator to Ray workers):

- :class:`DeviceLatency` (``mode="measure"``) times the exported subnet end to end on the device
  (here, or on the Ray node holding the device's resource), cached by ``arch_id``;
- :class:`ModelLatency` (``mode="model"``) predicts from the device's latency model (mean and
  std); a layer configuration missing from the table is timed once on the device and added.

Every result says where it came from: ``node`` (the Ray node that measured, ``""`` here),
``source`` and ``device`` (the fingerprint id). :func:`remeasure_front` times a list of
architectures on the device, interleaved, and pairs each with its predicted latency.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from nas.data import Task
from nas.errors import ConfigError
from nas.profiling.backends import Item
from nas.profiling.devices import DeviceProfile, fingerprint_id
from nas.profiling.latency_model import LatencyModel
from nas.profiling.measure import LatencyProtocol, LatencyResult
from nas.profiling.placement import LocalMeasurer, RayMeasurer, make_measurer
from nas.profiling.profiler import DeviceCache, ProfileSettings, build_latency_model
from nas.space import Arch
from nas.supernet.base import Supernet

__all__ = ["DeviceLatency", "ModelLatency", "make_latency_source", "remeasure_front", "default_cache_dir",
           "load_or_build_model"]

MISS_PROTOCOL = LatencyProtocol(warmup=50, repeats=200)


def default_cache_dir() -> Path:
    """``$SHARENAS_CACHE/latency`` (``~/.cache/sharenas/latency`` by default)."""
    from nas.data import cache_dir

    return cache_dir() / "latency"


class DeviceLatency:
    """Measures each subnet end to end on the device (bounded LRU cache by ``arch_id``).

    Args:
        profile: The device.
        measure: Its measurer.
        input_shape: One input's shape (no batch).
        protocol: Timing protocol (threads and batch come from ``profile``).
        device_id: Fingerprint id recorded in results.
        cache_size: Architectures remembered.
    """

    def __init__(self, profile: DeviceProfile, measure: LocalMeasurer | RayMeasurer, input_shape: tuple[int, ...],
                 protocol: LatencyProtocol, device_id: str = "", cache_size: int = 4096) -> None:
        self.profile, self.measure, self.input_shape = profile, measure, tuple(input_shape)
        self.protocol, self.device_id, self.cache_size = protocol, device_id, cache_size
        self._cache: OrderedDict[str, LatencyResult] = OrderedDict()

    def latency(self, arch: Arch, module: nn.Module) -> LatencyResult:
        """Times ``module`` on the device (cached by ``arch_id``)."""
        hit = self._cache.get(arch.arch_id)
        if hit is not None:
            self._cache.move_to_end(arch.arch_id)
            return hit
        (r,) = self.measure([Item(module, ((self.profile.batch_size, *self.input_shape),))], self.protocol, 1)
        out = LatencyResult(r.median_ms, r.iqr_ms, r.calls, node=r.node, source="measured", device=self.device_id)
        self._cache[arch.arch_id] = out
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out


class ModelLatency:
    """Predicts latency with a device's :class:`LatencyModel`.

    Args:
        model: The model (table + correction).
        measure: The device's measurer, to time layer configurations missing from the table
            (``None``: missing layers count 0 and the prediction says so through ``calls=-1``).
    """

    def __init__(self, model: LatencyModel, measure: LocalMeasurer | RayMeasurer | None = None) -> None:
        self.model, self.measure = model, measure
        self.profile = DeviceProfile.from_dict(model.meta["device"])
        self.input_shape = model.input_shape
        self.misses = 0

    def latency(self, arch: Arch, module: nn.Module) -> LatencyResult:
        """Predicted mean (``median_ms``) and std (``std_ms``) of ``module`` on the device."""
        feats, calls, modules, absent = self.model.features(module)
        node = str(self.model.meta.get("node", ""))
        if absent and self.measure is not None:
            self.misses += self.model.table.fill(calls, modules, self.measure, MISS_PROTOCOL, 1)
            node = getattr(self.measure, "node", "") or node
            feats, calls, modules, absent = self.model.features(module)
        mean, std = self.model.correction.predict(feats[None])
        return LatencyResult(float(mean[0]), 0.0, -1 if absent else 0, node=node, std_ms=float(std[0]),
                             source="model", device=str(self.model.meta.get("fingerprint_id", "")))


def load_or_build_model(profile: DeviceProfile, supernet: Supernet, space_name: str, input_shape: tuple[int, ...],
                        cache_dir: str | Path | None = None, ray_address: str | None = None,
                        settings: ProfileSettings | None = None, rebuild: bool = False,
                        on_progress: Callable[[str, int, int], None] | None = None
                        ) -> tuple[LatencyModel, LocalMeasurer | RayMeasurer, bool]:
    """The cached model of ``profile`` for this space, building (and caching) it when absent.

    Args:
        rebuild: Set the device's stored files aside (renamed, never deleted) and build anew;
            also refits when a stored file is corrupt.

    Returns:
        The model, the device's measurer, and whether it was built now.

    Raises:
        DeviceTableError: a stored table or model is corrupt (and ``rebuild`` is false).
    """
    measure = make_measurer(profile, ray_address)
    fp = measure.fingerprint()
    cache = DeviceCache(cache_dir or default_cache_dir())
    if rebuild:
        cache.set_aside(profile, fp)
    model = cache.load_model(profile, fp, space_name, input_shape)
    if model is not None:
        return model, measure, False
    table = cache.load_table(profile, fp)
    model = build_latency_model(supernet, input_shape, profile, measure, fp, space_name, settings, table, on_progress)
    cache.save_model(model, profile, fp, space_name)
    return model, measure, True


def make_latency_source(device: DeviceProfile, space_name: str, supernet: Supernet, task: Task,
                        cache_dir: str | Path | None = None, mode: str = "measure", *,
                        ray_address: str | None = None, protocol: LatencyProtocol | None = None,
                        settings: ProfileSettings | None = None) -> DeviceLatency | ModelLatency:
    """A latency source for ``Evaluator(latency=...)``.

    Args:
        device: The target device (:func:`~nas.profiling.devices.parse_device`).
        space_name: The space (names the cached model).
        supernet: The space's supernet (used to build a missing model).
        task: The task (its ``input_shape``).
        cache_dir: Device cache folder (default :func:`default_cache_dir`).
        mode: ``measure`` (time every subnet) or ``model`` (predict; the model is built if absent).
        ray_address: Cluster to join for ``ray:`` devices when Ray is not initialised yet.
        protocol: End-to-end timing protocol for ``measure`` (threads/batch come from ``device``).
        settings: Model build settings for ``model`` mode.

    Raises:
        ConfigError: bad mode, a table device, or no Ray node holding the device's resource
            (after a bounded wait).
    """
    if mode not in ("measure", "model"):
        raise ConfigError(f"`latency mode` must be one of ['measure', 'model'], got {mode!r}")
    if device.is_table:
        raise ConfigError(f"`device` {device.name!r} is a table column: use a table-backed space's evaluator")
    if mode == "model":
        model, measure, _ = load_or_build_model(device, supernet, space_name, tuple(task.input_shape), cache_dir,
                                                ray_address, settings)
        return ModelLatency(model, measure)
    measure = make_measurer(device, ray_address)
    fp = measure.fingerprint()  # for a ray: device this also checks, bounded, that a node holds the resource
    proto = protocol or LatencyProtocol()
    return DeviceLatency(device, measure, tuple(task.input_shape), proto, fingerprint_id(fp, device))


def remeasure_front(source: DeviceLatency | ModelLatency, supernet: Supernet, archs: Sequence[Arch],
                    predicted: Mapping[str, float] | None = None, protocol: LatencyProtocol | None = None,
                    rounds: int = 4, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Times ``archs`` on the source's device (interleaved) beside their predicted latency.

    Args:
        source: The search's latency source (its device, measurer and, for a model, predictions).
        supernet: The trained supernet (subnets are exported from it).
        archs: The architectures (e.g. the final Pareto set).
        predicted: ``arch_id -> predicted ms`` (e.g. the rows' ``latency_ms``); for a
            :class:`ModelLatency` missing ones are predicted now.
        protocol: Timing protocol (default: §5, 200 calls after 100 warm-up calls).
        rounds: Interleaved rounds.
        seed: Seed of inputs and order.

    Returns:
        ``arch_id -> {measured_latency_ms, measured_latency_iqr_ms, predicted_latency_ms,
        predicted_latency_std_ms, latency_error_pct, latency_node}``.
    """
    if not archs:
        return {}
    measure = source.measure if source.measure is not None else make_measurer(source.profile)
    shape = (source.profile.batch_size, *source.input_shape)
    modules = [supernet.eval().export(a).eval() for a in archs]
    results = measure([Item(m, (shape,)) for m in modules], protocol or LatencyProtocol(), rounds, seed)
    out: dict[str, dict[str, Any]] = {}
    for a, m, r in zip(archs, modules, results):
        pred, std = (predicted or {}).get(a.arch_id), float("nan")
        if isinstance(source, ModelLatency):
            p = source.latency(a, m)
            pred, std = (p.median_ms if pred is None else pred), p.std_ms
        entry: dict[str, Any] = {"measured_latency_ms": r.median_ms, "measured_latency_iqr_ms": r.iqr_ms,
                                 "predicted_latency_ms": float("nan") if pred is None else float(pred),
                                 "predicted_latency_std_ms": std, "latency_node": r.node}
        entry["latency_error_pct"] = 100.0 * (entry["predicted_latency_ms"] - r.median_ms) / r.median_ms
        out[a.arch_id] = entry
    return out
