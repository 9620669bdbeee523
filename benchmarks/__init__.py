"""Benchmark harnesses, run by ``nas bench NAME``; results are JSON under ``benchmarks/results/``.

Each harness module exposes ``run(**options) -> dict`` (its keyword arguments are its options,
typed by their defaults) and writes its JSON to ``out`` when given. ``nas bench NAME --key value``
maps ``--key-name`` to ``key_name``; ``--out`` defaults to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCHMARKS", "RESULTS_DIR"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# name -> module path (imported lazily: harnesses pull heavy dependencies)
BENCHMARKS: dict[str, str] = {
    "throughput": "benchmarks.throughput",
    "scale": "benchmarks.scale",
    "latency": "benchmarks.latency",
    "latency-transfer": "benchmarks.latency_transfer",
    "predictors": "benchmarks.predictors_bench",
    "superpose": "benchmarks.superpose_bench",
    "ranking": "benchmarks.ranking",
    "search": "benchmarks.search_bench",
    "overhead": "benchmarks.overhead",
    "export_latency": "benchmarks.export_latency",
    "export-check": "benchmarks.export_check",
    "dashboard_load": "benchmarks.dashboard_load",
    "branching": "benchmarks.branching",
    "gm-split": "benchmarks.gm_split",
    "npas": "benchmarks.npas",
    "ensemble": "benchmarks.ensemble",
}
