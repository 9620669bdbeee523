"""Few-shot latency transfer: a new device's latency from a handful of its measurements.

When a user adds hardware, timing thousands of subnets on it is what we want to avoid. The
latencies of the same architectures on devices already profiled carry most of the signal (a
cell that is slow on one CPU is slow on another), so :class:`FewShotTransfer` learns the target
device's latency as a regression on the *source devices' log latencies* (optionally beside the
space's structural features), fit on only ``N`` measured architectures of the target::

    log t_target ≈ b + Σ_s w_s · log t_s  [+ v · structure]      (ridge, alpha by leave-one-out)

Working in log space makes the map scale-free (a device 3× slower overall only shifts ``b``).
The regression is any :mod:`predictors` model (ridge by default); its uncertainty is carried
through the exponential. :func:`transfer_curve` scores it for every device of a table as the
target, the others as sources, over several ``N`` and seeds (the ``latency-transfer`` benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.errors import invalid
from nas.profiling.latency_model import regression_figures

__all__ = ["FewShotTransfer", "pick_rows", "transfer_curve"]

ALPHAS = tuple(float(a) for a in np.logspace(-4, 2, 13))


def _log(lat: np.ndarray, what: str) -> np.ndarray:
    lat = np.asarray(lat, float)
    if not np.all(np.isfinite(lat)) or np.any(lat <= 0):
        raise invalid(what, "hold positive, finite latencies (ms)", f"min {np.nanmin(lat):g}")
    return np.log(lat)


@dataclass
class FewShotTransfer:
    """Predicts a target device's latency from source devices' latencies (and structure).

    Args:
        predictor: A registered :mod:`predictors` name (``ridge`` default; ``gbm``, ``svr``, ...).
        seed: Seed of the predictor.
        use_features: Also use the structural features passed to :meth:`fit` / :meth:`predict`.
    """

    predictor: str = "ridge"
    seed: int = 0
    use_features: bool = False
    model_: Any = field(default=None, init=False, repr=False)

    def _design(self, source_lat: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        X = _log(np.atleast_2d(source_lat), "source_lat")
        if self.use_features:
            if features is None:
                raise invalid("features", "be given when use_features is set", None)
            X = np.hstack([X, np.atleast_2d(np.asarray(features, float))])
        return X

    def fit(self, source_lat: np.ndarray, target_lat: np.ndarray,
            features: np.ndarray | None = None) -> FewShotTransfer:
        """Fits on ``N`` architectures measured on the target.

        Args:
            source_lat: ``(N, k)`` latencies (ms) of the architectures on the ``k`` source devices.
            target_lat: ``(N,)`` their measured latency on the target device.
            features: ``(N, f)`` structural features (used when ``use_features``).
        """
        from predictors import make_predictor

        X, y = self._design(source_lat, features), _log(target_lat, "target_lat")
        if len(y) < 3:
            raise invalid("target_lat", "hold at least 3 measurements", len(y))
        settings: dict[str, Any] = {"alphas": ALPHAS} if self.predictor == "ridge" else {}
        self.model_ = make_predictor(self.predictor, seed=self.seed, **settings).fit(X, y)
        return self

    def predict(self, source_lat: np.ndarray, features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and std (ms) of the target latency for rows of source latencies."""
        if self.model_ is None:
            raise invalid("FewShotTransfer", "be fitted before predict", "unfitted")
        mu, sd = self.model_.predict(self._design(source_lat, features))
        mean = np.exp(mu + 0.5 * np.square(sd))  # mean of a log-normal
        return mean, mean * np.sqrt(np.expm1(np.square(sd)))


def pick_rows(n_rows: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct row indices drawn with the caller's generator (the "measured" rows)."""
    if not 0 < n < n_rows:
        raise invalid("n", f"be in [1, {n_rows - 1}] (rows available)", n)
    return np.sort(rng.choice(n_rows, size=n, replace=False))


def _meta_model(source_lat: np.ndarray, n: int, features: np.ndarray | None) -> Any:
    from nas.profiling.transfer_meta import MetaTransfer

    return MetaTransfer().meta_fit(source_lat, n, features)


def transfer_curve(latencies: np.ndarray, devices: Sequence[str], ns: Sequence[int], seeds: Sequence[int],
                   features: np.ndarray | None = None, predictor: str = "ridge",
                   max_eval: int | None = None, method: str = "ridge") -> dict[str, Any]:
    """Few-shot figures for every device as the target, the others as sources.

    Args:
        latencies: ``(rows, devices)`` latency table (ms).
        devices: Device names of the columns.
        ns: Target measurements to fit on (each ``N``).
        seeds: One draw of the ``N`` rows per seed; figures are averaged over seeds.
        features: Optional ``(rows, f)`` structural features (then used beside the sources).
        predictor: A registered predictor name (``ridge`` method).
        method: ``ridge`` (:class:`FewShotTransfer`: one model, penalty by leave-one-out on the
            ``N`` rows) or ``meta`` (:class:`~nas.profiling.transfer_meta.MetaTransfer`: penalties
            meta-learned on the source devices, sources and structure models averaged).
        max_eval: Score on at most this many held-out rows (seeded), ``None``: all of them.

    Returns:
        ``{"per_device": {device: {N: {spearman, kendall_tau, mape, within_10, spearman_std}}},
        "mean_spearman": {N: mean over devices}}``.
    """
    lat = np.asarray(latencies, float)
    if lat.ndim != 2 or lat.shape[1] != len(devices) or lat.shape[1] < 2:
        raise invalid("latencies", "be a (rows, devices) table with at least 2 devices", getattr(lat, "shape", None))
    if method not in ("ridge", "meta"):
        raise invalid("method", "be `ridge` or `meta`", method)
    out: dict[str, Any] = {"per_device": {}, "mean_spearman": {}}
    for t, name in enumerate(devices):
        src = [i for i in range(len(devices)) if i != t]
        per_n: dict[str, Any] = {}
        for n in ns:
            figs = []
            meta = _meta_model(lat[:, src], int(n), features) if method == "meta" else None
            for seed in seeds:
                rng = np.random.default_rng([int(seed), int(n), t])
                rows = pick_rows(len(lat), int(n), rng)
                rest = np.setdiff1d(np.arange(len(lat)), rows)
                if max_eval is not None and len(rest) > max_eval:
                    rest = np.sort(rng.choice(rest, size=max_eval, replace=False))
                f_fit = None if features is None else features[rows]
                f_eval = None if features is None else features[rest]
                model = meta or FewShotTransfer(predictor, int(seed), features is not None)
                model.fit(lat[rows][:, src], lat[rows, t], f_fit)
                figs.append(regression_figures(lat[rest, t], model.predict(lat[rest][:, src], f_eval)[0]))
            per_n[str(n)] = {k: float(np.mean([f[k] for f in figs])) for k in ("spearman", "kendall_tau", "mape",
                                                                               "within_10")}
            per_n[str(n)]["spearman_std"] = float(np.std([f["spearman"] for f in figs]))
        out["per_device"][name] = per_n
    for n in ns:
        out["mean_spearman"][str(n)] = float(np.mean([out["per_device"][d][str(n)]["spearman"] for d in devices]))
    return out
