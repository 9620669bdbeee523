"""Device profiling: device profiles, latency measurement, per-layer latency models, table devices.

Public API (implementation modules are importable too; ``cost`` and ``measure`` are used by the
evaluator and stay free of the heavier imports)::

    profile = parse_device("cpu-ort")                     # DeviceProfile
    model, measure, built = load_or_build_model(profile, supernet, "cnn1d", (1, 40))
    source = ModelLatency(model, measure)                 # a LatencySource for Evaluator
"""

from __future__ import annotations

from nas.profiling.devices import DeviceProfile, fingerprint, fingerprint_id, known_devices, parse_device
from nas.profiling.latency_model import Correction, LatencyModel, regression_figures
from nas.profiling.lut import DeviceTableError, LayerTable, layer_units
from nas.profiling.measure import LatencyProtocol, LatencyResult
from nas.profiling.placement import LocalMeasurer, RayMeasurer, make_measurer, require_resource
from nas.profiling.profiler import DeviceCache, ProfileSettings, build_latency_model
from nas.profiling.sources import DeviceLatency, ModelLatency, load_or_build_model, make_latency_source, remeasure_front
from nas.profiling.table_devices import TableDevice, TableModel, fit_table_model
from nas.profiling.transfer import FewShotTransfer, transfer_curve
from nas.profiling.transfer_meta import MetaTransfer, choice_counts

__all__ = [
    "Correction", "DeviceCache", "DeviceLatency", "DeviceProfile", "DeviceTableError", "FewShotTransfer",
    "LatencyModel", "MetaTransfer", "LatencyProtocol", "LatencyResult", "LayerTable", "LocalMeasurer", "ModelLatency",
    "ProfileSettings", "RayMeasurer", "TableDevice", "TableModel", "build_latency_model", "fingerprint",
    "fingerprint_id", "fit_table_model", "known_devices", "layer_units", "load_or_build_model",
    "make_latency_source", "make_measurer", "parse_device", "regression_figures", "remeasure_front",
    "choice_counts", "require_resource", "transfer_curve",
]
