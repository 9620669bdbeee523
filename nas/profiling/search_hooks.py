"""What a search asks of device profiling: a latency source, and the front re-measured at the end.

Call sequence (``nas.runner``)::

    source = search_latency_source(cfg, net, task, store)  # None: the foundation's MeasuredLatency
    evaluator = Evaluator(net, task, cfg.eval, latency=source)
    ...search loop...
    check_front(store, source, net, objectives)          # re-measures the Pareto set on the device

The latency mode (``cfg.latency_mode``): ``measure`` times every subnet end to end on the device,
``model`` predicts with the device's latency model (built and cached on first use, copied into
the run's ``latency/`` folder), ``auto`` is ``measure`` for the plain ``cpu`` device (the
foundation's default) and ``model`` for every named device. :func:`check_front` writes
``measured_latency_ms``, ``predicted_latency_ms``, ``latency_error_pct`` and
``measured_latency_node`` into the front's rows of ``trials.parquet``, and a summary into
``latency/front_check.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.errors import ConfigError
from nas.profiling.devices import parse_device
from nas.profiling.latency_model import regression_figures
from nas.profiling.measure import LatencyProtocol
from nas.profiling.profiler import DeviceCache
from nas.profiling.sources import DeviceLatency, ModelLatency, make_latency_source, remeasure_front
from nas.search.objectives import Objective
from nas.store import RunStore
from nas.supernet.base import Supernet

__all__ = ["LATENCY_MODES", "resolve_mode", "search_latency_source", "check_front"]

LATENCY_MODES = ("auto", "measure", "model")


def resolve_mode(device: str, mode: str) -> str:
    """The effective latency mode of a device (see the module docstring)."""
    if mode not in LATENCY_MODES:
        raise ConfigError(f"`latency_mode` must be one of {list(LATENCY_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "measure" if device == "cpu" else "model"


def search_latency_source(cfg: Any, supernet: Supernet, task: Any, store: RunStore | None = None
                          ) -> DeviceLatency | ModelLatency | None:
    """The latency source of a search over a trainable space.

    Args:
        cfg: The run's :class:`~nas.config.SearchConfig`.
        supernet: The (trained) supernet.
        task: Its task.
        store: The run folder; a model is copied into its ``latency/`` folder, and a resumed run
            loads it from there (when it was measured on this machine).

    Returns:
        ``None`` for the plain ``cpu`` device measured here (the evaluator's own default).
    """
    mode = resolve_mode(cfg.device, cfg.latency_mode)
    if cfg.device == "cpu" and mode == "measure":
        return None
    profile = parse_device(cfg.device)
    cache = cfg.latency_cache
    if store is not None and mode == "model" and list(store.file("latency").glob("*/*.model.json")):
        cache = str(store.file("latency"))  # a resumed run keeps the model it started with
    src = make_latency_source(profile, supernet.space.name, supernet, task, cache, mode,
                              ray_address=cfg.execution.ray_address, protocol=cfg.eval.latency,
                              settings=cfg.profile)
    if isinstance(src, ModelLatency) and store is not None:
        fp = src.model.meta.get("fingerprint", {})
        DeviceCache(store.file("latency")).save_model(src.model, profile, fp, supernet.space.name)
        store.event("latency_model", device=cfg.device, layers=len(src.model.table),
                    figures=src.model.meta.get("figures", {}), node=src.model.meta.get("node", ""))
    return src


def check_front(store: RunStore, source: DeviceLatency | ModelLatency | None, supernet: Supernet,
                objectives: Sequence[Objective], protocol: LatencyProtocol | None = None,
                rounds: int = 4, limit: int = 50) -> dict[str, Any]:
    """Re-measures the run's Pareto set on the device and records measured beside predicted latency.

    Args:
        store: The run folder.
        source: The search's latency source (``None``: nothing to check, latency was measured here).
        supernet: The trained supernet.
        objectives: The run's objectives (define the front).
        protocol: Timing protocol (default: DESIGN §5).
        rounds: Interleaved rounds.
        limit: At most this many front members are re-measured (best first objective first).

    Returns:
        The summary written to ``latency/front_check.json`` (empty when nothing was checked).
    """
    from nas.results import front_frame

    front = front_frame(store.trials(), objectives)
    if source is None or front.empty:
        return {}
    archs = [supernet.space.arch_from_json(a) for a in front["arch"].head(limit)]
    predicted = {aid: float(v) for aid, v in zip(front["arch_id"], front["latency_ms"])} if "latency_ms" in front else {}
    checked = remeasure_front(source, supernet, archs, predicted, protocol, rounds)
    updates = {aid: {"measured_latency_ms": e["measured_latency_ms"], "measured_latency_iqr_ms":
                     e["measured_latency_iqr_ms"], "predicted_latency_ms": e["predicted_latency_ms"],
                     "latency_error_pct": e["latency_error_pct"], "measured_latency_node": e["latency_node"]}
               for aid, e in checked.items()}
    store.update_rows("arch_id", updates)
    measured = [e["measured_latency_ms"] for e in checked.values()]
    pred = [e["predicted_latency_ms"] for e in checked.values()]
    summary = {"device": source.profile.name, "mode": "model" if isinstance(source, ModelLatency) else "measure",
               "front_size": len(front), "checked": len(checked),
               "figures": regression_figures(measured, pred) if np.all(np.isfinite(pred)) else {},
               "rows": updates}
    store.file("latency").mkdir(exist_ok=True)
    store.write_json("latency/front_check.json", summary)
    store.event("front_check", device=source.profile.name, checked=len(checked),
                within_10=summary["figures"].get("within_10"))
    return summary
