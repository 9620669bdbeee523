"""Layer-to-group mappings of Neural Parameter Allocation Search (NPAS / Shapeshifter Networks).

Four ways to map the banked layers of a supernet onto parameter groups (``sharing.groups``):

* ``type``: one group per (layer type, weight shape): layers that look alike share a bank;
* ``random``: a seeded random partition into ``k`` non-empty groups;
* ``single``: one bank for every layer;
* ``learned`` (SSN): a short warm-up with one shared bank in which every layer learns its template
  coefficients, then k-means on the layers' coefficient vectors (each scaled to unit length, so
  that layers with different initial scales cluster by the direction of their combination). The
  mode clusters what the warm-up changed (learned minus initial coefficients): after a short
  warm-up the coefficients themselves are still mostly their random initialisation.

Every mapping is a list of group indices ``0..G-1`` in :func:`~nas.sharing.bank.banked_layers`
order, the form :class:`~nas.sharing.bank.BankedSupernet` takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas.errors import invalid
from nas.sharing.bank import BankedLayer

__all__ = ["type_groups", "random_groups", "single_groups", "learned_groups", "default_num_groups", "make_groups",
           "renumber"]


def renumber(groups: Sequence[int]) -> list[int]:
    """Relabels groups ``0..G-1`` in order of first appearance (the same partition)."""
    seen: dict[int, int] = {}
    return [seen.setdefault(int(g), len(seen)) for g in groups]


def type_groups(layers: Sequence[BankedLayer]) -> list[int]:
    """One group per (module class, weight shape)."""
    keys = [(layer.kind, layer.shape) for layer in layers]
    return renumber([keys.index(k) for k in keys])


def default_num_groups(layers: Sequence[BankedLayer]) -> int:
    """The number of groups used when ``sharing.num_groups`` is not set: that of ``type`` grouping."""
    return len(set(type_groups(layers)))


def _check_k(k: int, n_layers: int) -> None:
    if not 1 <= k <= n_layers:
        raise invalid("sharing.num_groups", f"be in [1, {n_layers}] (the number of banked layers)", k)


def random_groups(n_layers: int, k: int, seed: int) -> list[int]:
    """A seeded random partition of ``n_layers`` layers into ``k`` non-empty groups."""
    _check_k(k, n_layers)
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(k), rng.integers(0, k, size=n_layers - k)])
    return renumber(rng.permutation(labels).tolist())


def single_groups(n_layers: int) -> list[int]:
    """Every layer in group 0."""
    return [0] * n_layers


def learned_groups(coefs: np.ndarray, k: int, seed: int) -> list[int]:
    """k-means (scikit-learn, seeded) on the layers' unit-length coefficient vectors.

    Args:
        coefs: Coefficients learned in the single-bank warm-up, shape ``(layers, T)``.
        k: Number of groups.
        seed: Seed of k-means' initialisation.
    """
    from sklearn.cluster import KMeans

    coefs = np.asarray(coefs, dtype=np.float64)
    if coefs.ndim != 2 or not np.isfinite(coefs).all():
        raise invalid("coefs", "be a finite (layers, templates) array", coefs.shape)
    _check_k(k, coefs.shape[0])
    unit = coefs / np.maximum(np.linalg.norm(coefs, axis=1, keepdims=True), 1e-12)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(unit)
    return renumber(labels.tolist())


def make_groups(how: str, layers: Sequence[BankedLayer], num_groups: int | None, seed: int,
                coefs: np.ndarray | None = None) -> list[int]:
    """The mapping ``how`` (``type``, ``random``, ``single`` or ``learned``) of ``layers``.

    Args:
        how: The ``sharing.groups`` setting.
        layers: The banked layers.
        num_groups: Groups for ``random`` and ``learned`` (``None``: :func:`default_num_groups`).
        seed: Seed of ``random`` and of k-means.
        coefs: Warm-up coefficients (required by ``learned``).

    Raises:
        ConfigError: an unknown ``how``, a bad ``num_groups``, or ``learned`` without coefficients.
    """
    k = num_groups if num_groups is not None else default_num_groups(layers)
    if how == "type":
        return type_groups(layers)
    if how == "single":
        return single_groups(len(layers))
    if how == "random":
        return random_groups(len(layers), k, seed)
    if how == "learned":
        if coefs is None:
            raise invalid("sharing.groups", "have warm-up coefficients when `learned`", None)
        return learned_groups(coefs, k, seed)
    raise invalid("sharing.groups", "be one of ['learned', 'type', 'random', 'single']", how)
