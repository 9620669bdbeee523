"""Blend: an equal-weight mixture of several registered predictors.

Different model families err differently: on the NB201 table a random forest ranks the
top half of the architectures best from 50-100 random samples, while an MLP ensemble's
bootstrap spread is the better guide for exploration in a predictor-guided search (its
runs were the more consistent across seeds). The blend keeps both: its prediction is the
equal-weight mixture of the members' Gaussian predictions,

    mean = (1/M) Σ_m μ_m,    var = (1/M) Σ_m σ_m² + (1/M) Σ_m (μ_m − mean)²,

so the members' disagreement adds to the uncertainty (the law of total variance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from predictors.base import PREDICTORS, Predictor, make_predictor, register_predictor

__all__ = ["BlendPredictor", "DEFAULT_MEMBERS"]

DEFAULT_MEMBERS: tuple[str, ...] = ("random_forest", "mlp_ensemble")
"""Members of the default blend."""

_MEMBER_SETTINGS: dict[str, dict[str, Any]] = {"random_forest": {"n_estimators": 64}}
"""Settings of members by name when ``settings`` gives none (a 64-tree forest scores fast)."""


@register_predictor("blend")
class BlendPredictor(Predictor):
    """Equal-weight mixture of registered predictors (see the module docstring).

    Args:
        seed: Seed of every member (each member owns its generators).
        members: Registered predictor names, at least one, no ``blend`` among them.
        settings: Keyword settings per member name (replaces that member's defaults).

    Raises:
        ValueError: naming ``members`` or ``settings`` when they are invalid.
    """

    def __init__(self, seed: int = 0, members: Sequence[str] = DEFAULT_MEMBERS,
                 settings: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}")
        names = tuple(members)
        if not names:
            raise ValueError("`members` must name at least one predictor, got an empty list")
        for name in names:
            if name == "blend" or name not in PREDICTORS:
                known = sorted(n for n in PREDICTORS.names() if n != "blend")
                raise ValueError(f"`members` must be registered predictors other than 'blend' ({known}), got {name!r}")
        extra = set(settings or {}) - set(names)
        if extra:
            raise ValueError(f"`settings` must only name members {list(names)}, got {sorted(extra)}")
        self.seed, self.members = int(seed), names
        self.settings = {n: dict((settings or {}).get(n, _MEMBER_SETTINGS.get(n, {}))) for n in names}

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self.fitted_ = [make_predictor(n, seed=self.seed, **self.settings[n]).fit(X, y) for n in self.members]

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = [m.predict(X) for m in self.fitted_]
        means = np.stack([p[0] for p in preds])
        variances = np.stack([p[1] for p in preds]) ** 2
        mean = means.mean(axis=0)
        var = variances.mean(axis=0) + ((means - mean) ** 2).mean(axis=0)
        return mean, np.sqrt(var)
