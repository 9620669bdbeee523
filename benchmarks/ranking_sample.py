"""The ranking benchmark's architecture samples: uniform, or stratified over a width.

A ranking figure can only be judged on a sample whose stand-alone accuracies are separated by
more than the stand-alone noise (DESIGN §5). On ``cnn1d`` that noise sits almost entirely in the
archs with a very narrow stage: with widths 2-16, a uniform sample puts 58% of the archs in the
width-2 bottleneck stratum, where two training seeds of one arch differ by 8.7 points on
average (up to 21.5), so most of the discordant pairs of the noise ceiling come from there.

``sample="bottleneck"`` draws an equal share of the sample from each bottleneck stratum (the
narrowest active ``*.width`` choice of an arch): ``n // k`` archs for each of the ``k`` width
options, the remainder going to the narrowest strata. Within a stratum the archs are the first
distinct ones that a uniform, seeded draw of the whole space puts there, so the sample is fixed
by the seed and covers the capacity range evenly instead of in proportion to the strata's size.

``sample="last-width"`` stratifies the same way over the last stage's width (the last ``*.width``
choice: the feature width the classifier sees). On ``mbconv`` that width, not the narrowest one,
orders the stand-alone accuracies: with widths 2-16 on mnist5k, an arch with a width-2 middle
stage and a width-8 last stage reaches 92%, one with a width-2 last stage 66-77%, so bottleneck
strata overlap by up to 25 points (``ranking_mbconv_w2-16_t2k_e20_strat.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nas.errors import invalid

__all__ = ["SAMPLES", "STRATA_KEYS", "bottleneck_width", "last_width", "within_strata", "sample_uniform",
           "sample_stratified", "sample_for", "strata_counts"]

SAMPLES = ("uniform", "bottleneck", "last-width")
DRAWS_PER_ARCH = 2000  # bound on the space draws per requested arch (the rarest cnn1d stratum is 1 in 64)


def sample_uniform(space: Any, n: int, seed: int) -> list[Any]:
    """``n`` distinct architectures drawn with a generator seeded by ``seed`` (bounded tries).

    Raises:
        ConfigError: if ``100 * n`` draws find fewer than ``n`` distinct architectures.
    """
    rng = np.random.default_rng(seed)
    archs: dict[str, Any] = {}
    for _ in range(100 * n):
        a = space.sample(rng)
        archs.setdefault(a.arch_id, a)
        if len(archs) == n:
            return list(archs.values())
    raise invalid("n_archs", f"be at most the distinct architectures found in {100 * n} draws", n)


def width_labels(space: Any) -> list[str]:
    """The labels of the space's width choices (``*.width``)."""
    return [c.label for c in space.choices if c.label == "width" or c.label.endswith(".width")]


def _active_widths(arch: Any, kind: str) -> list[int]:
    """The arch's ``*.width`` values in label order; ``kind`` names the sample in the error.

    Raises:
        ConfigError: if the arch has no width choice.
    """
    widths = [int(v) for k, v in arch.to_dict().items() if k == "width" or k.endswith(".width")]
    if not widths:
        raise invalid("sample", "be 'uniform' for a space without `*.width` choices (width strata need widths)", kind)
    return widths


def bottleneck_width(arch: Any) -> int:
    """The narrowest active width of ``arch`` (its ``*.width`` choices; ConfigError without one)."""
    return min(_active_widths(arch, "bottleneck"))


def last_width(arch: Any) -> int:
    """The width of the last ``*.width`` choice of ``arch`` in label order (ConfigError without one)."""
    return _active_widths(arch, "last-width")[-1]


STRATA_KEYS = {"bottleneck": bottleneck_width, "last-width": last_width}


def _quotas(strata: list[Any], n: int) -> dict[Any, int]:
    base, extra = divmod(n, len(strata))
    return {s: base + (1 if i < extra else 0) for i, s in enumerate(strata)}


def sample_stratified(space: Any, n: int, seed: int, strata: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    """``n`` distinct architectures, an equal share from each stratum ``key(arch)`` in ``strata``.

    Args:
        space: The search space (its ``sample(rng)`` draws uniformly).
        n: Architectures wanted (at least one per stratum).
        seed: Seed of the draw.
        strata: The strata, in the order that receives the remainder of ``n / len(strata)``.
        key: The stratum of an architecture.

    Returns:
        The archs, stratum by stratum, each stratum in draw order.

    Raises:
        ConfigError: if ``n`` is smaller than the number of strata, or a stratum stays short
            after ``DRAWS_PER_ARCH * n`` draws.
    """
    if not strata or n < len(strata):
        raise invalid("n_archs", f"be at least the {len(strata)} strata of a stratified sample", n)
    quota = _quotas(list(strata), n)
    picked: dict[Any, dict[str, Any]] = {s: {} for s in strata}
    rng = np.random.default_rng(seed)
    for _ in range(DRAWS_PER_ARCH * n):
        a = space.sample(rng)
        stratum = key(a)
        bucket = picked.get(stratum)
        if bucket is not None and len(bucket) < quota[stratum]:
            bucket.setdefault(a.arch_id, a)
        if all(len(picked[s]) == quota[s] for s in strata):
            return [a for s in strata for a in picked[s].values()]
    short = {s: f"{len(picked[s])}/{quota[s]}" for s in strata if len(picked[s]) < quota[s]}
    raise invalid("n_archs", f"fit the strata within {DRAWS_PER_ARCH * n} draws (short: {short})", n)


def sample_for(kind: str, space: Any, n: int, seed: int) -> list[Any]:
    """The benchmark's sample of kind ``uniform``, ``bottleneck`` or ``last-width`` (module docstring).

    Raises:
        ConfigError: for another kind, or a stratified kind on a space without width choices.
    """
    if kind not in SAMPLES:
        raise invalid("sample", f"be one of {list(SAMPLES)}", kind)
    if kind == "uniform":
        return sample_uniform(space, n, seed)
    labels = width_labels(space)
    if not labels:
        raise invalid("sample", "be 'uniform' for a space without `*.width` choices (width strata need widths)", kind)
    options = sorted({int(o) for label in labels for o in space.choice(label).options})
    return sample_stratified(space, n, seed, options, STRATA_KEYS[kind])


def strata_counts(space: Any, archs: list[Any], kind: str = "bottleneck") -> dict[str, int] | None:
    """How many of ``archs`` fall in each ``bottleneck`` (or ``last-width``) stratum (None for a
    space without widths)."""
    if not width_labels(space):
        return None
    key = STRATA_KEYS[kind]
    counts: dict[str, int] = {}
    for a in archs:
        w = str(key(a))
        counts[w] = counts.get(w, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: int(kv[0])))


def within_strata(standalone: np.ndarray, supernet: dict[str, list[float]], keys: list[Any]) -> dict[str, Any]:
    """Rank figures inside each stratum: how much of the whole-sample tau is ordering across strata.

    Args:
        standalone: Stand-alone accuracies ``(n_seeds, n_archs)``.
        supernet: Supernet accuracies per supernet seed, in arch order.
        keys: The stratum of each arch.

    Returns:
        Per stratum (as a string key): ``n``, the stand-alone ``range`` (mean over seeds), the
        ``noise_ceiling_tau`` (mean over seed pairs) and the supernet ``kendall_tau`` against the
        stand-alone mean (mean and std over supernet seeds).
    """
    from itertools import combinations

    from predictors.metrics import kendall_tau

    out: dict[str, Any] = {}
    for stratum in sorted(set(keys)):
        idx = [i for i, k in enumerate(keys) if k == stratum]
        sa = standalone[:, idx]
        mean = sa.mean(axis=0)
        taus = [kendall_tau(mean, np.asarray(acc)[idx]) for acc in supernet.values()]
        pairs = [kendall_tau(sa[i], sa[j]) for i, j in combinations(range(len(sa)), 2)]
        out[str(stratum)] = {"n": len(idx), "range": [float(mean.min()), float(mean.max())],
                             "noise_ceiling_tau": float(np.mean(pairs)),
                             "kendall_tau": {"mean": float(np.mean(taus)), "std": float(np.std(taus))}}
    return out
