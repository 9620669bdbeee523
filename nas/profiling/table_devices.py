"""Table-backed devices: the latency columns of a table-backed space act as devices.

A published table (NB201 with ``raspi4_ms``, ``fpga_ms``, ...) holds latencies someone measured
on hardware we do not have. :class:`TableDevice` makes one column a device: "measuring" an
architecture looks its row up (no timing, ``source="table"``). :func:`fit_table_model` fits a
latency model of that device from only ``n`` "measured" rows (as if the user had timed ``n``
architectures): from the space's encoding (one-hot plus structural features), or, with
``sources``, by few-shot transfer from the other devices' columns
(:class:`~nas.profiling.transfer_meta.MetaTransfer`: penalties meta-learned on the source
columns, a sources model and a choice-count structure model averaged). The held-out rows give
its figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.catalog import SpaceSpec
from nas.errors import ConfigError, invalid
from nas.profiling.latency_model import regression_figures
from nas.profiling.measure import LatencyResult
from nas.profiling.transfer import pick_rows
from nas.profiling.transfer_meta import MetaTransfer, choice_counts
from nas.space import Arch

__all__ = ["TableDevice", "TableModel", "fit_table_model"]


class TableDevice:
    """One latency column of a table-backed space, used as a device.

    Args:
        spec: A table-backed space (``spec.build_evaluator`` looks rows up).
        device: One of ``spec.devices`` (e.g. ``raspi4``; ``table:raspi4`` is accepted too).
    """

    def __init__(self, spec: SpaceSpec, device: str) -> None:
        if spec.trainable or spec.build_evaluator is None:
            raise ConfigError(f"`space` must be table-backed for a table device, got {spec.name!r} (it trains a supernet)")
        name = device[len("table:"):] if device.startswith("table:") else device
        if name not in spec.devices:
            raise invalid("device", f"be one of {list(spec.devices)} for space `{spec.name}`", device)
        self.spec, self.device = spec, name
        self.space = spec.build_space()
        self._evaluator = spec.build_evaluator(self.space, spec.default_task, name)

    def latency_ms(self, archs: Sequence[Arch]) -> np.ndarray:
        """The table's latency of each architecture on this device."""
        return np.array([float(self._evaluator.evaluate(a, 0)["latency_ms"]) for a in archs])

    def latency(self, arch: Arch, module: Any = None) -> LatencyResult:
        """A :class:`LatencyResult` read from the table (a ``LatencySource``; ``module`` unused)."""
        del module
        return LatencyResult(float(self.latency_ms([arch])[0]), 0.0, 0, source="table", device=f"table:{self.device}")

    def features(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predictor features of the architectures (the space's encoding)."""
        return np.stack([np.asarray(self.spec.encode(self.space, a), float) for a in archs])


@dataclass
class TableModel:
    """A latency model of a table device fit from a few rows.

    Attributes:
        device: The target device.
        sources: Source devices used by few-shot transfer (empty: structural encoding only).
        model: The fitted predictor (log-latency target) or a :class:`MetaTransfer`.
        rows: The architectures it was fit on.
        figures: Held-out figures (``within_10``, ``spearman``, ``kendall_tau``, ``mape``).
    """

    device: TableDevice
    sources: tuple[TableDevice, ...]
    model: Any
    rows: list[Arch]
    figures: dict[str, float]

    def predict(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and std (ms) of each architecture on the target device."""
        if self.sources:
            src = np.stack([s.latency_ms(archs) for s in self.sources], axis=1)
            return self.model.predict(src, choice_counts(list(archs)))
        mu, sd = self.model.predict(self.device.features(archs))
        return np.exp(mu), np.exp(mu) * sd


def fit_table_model(spec: SpaceSpec, device: str, n: int, seed: int = 0, sources: Sequence[str] = (),
                    predictor: str = "ridge", max_eval: int = 2000) -> TableModel:
    """Fits a latency model of ``device`` from ``n`` rows of the table and scores it on others.

    Args:
        spec: A table-backed space.
        device: The target device (a latency column).
        n: How many rows are "measured" on the target.
        seed: Seed of the row draw and of the predictor.
        sources: Other devices of the table to transfer from (empty: structural encoding only).
        predictor: A registered :mod:`predictors` name (without sources).
        max_eval: Held-out rows scored (a seeded sample of the rest).

    Raises:
        ConfigError: unknown device, a source equal to the target, or ``n`` out of range.
    """
    target = TableDevice(spec, device)
    srcs = tuple(TableDevice(spec, s) for s in sources)
    if any(s.device == target.device for s in srcs):
        raise invalid("sources", f"not include the target device `{target.device}`", list(sources))
    archs = _table_archs(target)
    rng = np.random.default_rng(seed)
    rows = pick_rows(len(archs), n, rng)
    rest = np.setdiff1d(np.arange(len(archs)), rows)
    rest = np.sort(rng.choice(rest, size=min(max_eval, len(rest)), replace=False))
    fit_archs, eval_archs = [archs[i] for i in rows], [archs[i] for i in rest]
    y_fit = target.latency_ms(fit_archs)
    if srcs:
        known = np.stack([s.latency_ms(archs) for s in srcs], 1)
        counts = choice_counts(archs)
        model: Any = MetaTransfer(seed=seed).meta_fit(known, n, counts).fit(known[rows], y_fit, counts[rows])
    else:
        from predictors import make_predictor

        model = make_predictor(predictor, seed=seed).fit(target.features(fit_archs), np.log(y_fit))
    fitted = TableModel(target, srcs, model, fit_archs, {})
    fitted.figures = regression_figures(target.latency_ms(eval_archs), fitted.predict(eval_archs)[0])
    return fitted


def _table_archs(device: TableDevice) -> list[Arch]:
    """Every architecture of the table (through the evaluator's table when it exposes one)."""
    table = getattr(device._evaluator, "table", None)
    if table is not None and hasattr(table, "archs"):
        return list(table.archs())
    return list(device.space.enumerate())
