"""Architecture encodings: turn architectures into feature matrices for predictors.

An encoder is anything with ``encode(archs) -> np.ndarray`` (shape ``(len(archs), d)``).
Provided here: :class:`OneHotEncoder` for flat ``dict`` architectures, :class:`MacroEncoder`
(one-hot plus depth/width/FLOPs-like features, :func:`macro_features`) and
:class:`NB201Encoder` (NAS-Bench-201 cells, :func:`nb201_features`). Spaces register their own
structural encoders in :data:`ENCODERS` with :func:`register_encoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from predictors._registry import Registry
from predictors.nb201 import NB201_FEATURE_NAMES, nb201_features

__all__ = [
    "ENCODERS",
    "MACRO_FEATURE_NAMES",
    "Encoder",
    "MacroEncoder",
    "NB201Encoder",
    "OneHotEncoder",
    "macro_features",
    "make_encoder",
    "nb201_features",
    "register_encoder",
]

MACRO_FEATURE_NAMES: tuple[str, ...] = ("total_depth", "mean_width", "max_width", "flops_like")


@runtime_checkable
class Encoder(Protocol):
    """Maps a sequence of architectures to a 2-D float feature matrix."""

    def encode(self, archs: Sequence[Any]) -> np.ndarray:
        """Returns an array of shape ``(len(archs), n_features)``."""
        ...


ENCODERS: Registry[Callable[..., Encoder]] = Registry("encoder")
"""Encoder factories by name; ``make_encoder(name, **kwargs)`` calls one."""


def register_encoder(name: str, factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
    """Registers an encoder factory (a class or function) under ``name``.

    Raises:
        ValueError: if ``name`` is already registered.
    """
    return ENCODERS.add(name, factory)


def make_encoder(name: str, **kwargs: Any) -> Encoder:
    """Builds the encoder registered as ``name`` with ``kwargs``.

    Raises:
        ValueError: if ``name`` is unknown (``"`encoder` must be one of [...], got 'x'"``).
    """
    return ENCODERS.get_or_raise(name)(**kwargs)


def _as_list(archs: Any) -> list[Any]:
    return [archs] if isinstance(archs, Mapping) else list(archs)


class OneHotEncoder:
    """One-hot encoding of flat ``dict`` architectures, one block of columns per choice.

    A missing label (an inactive choice, e.g. a layer beyond the chosen depth) encodes as all
    zeros. Keys of the architecture that are not among ``choices`` are ignored.

    Args:
        choices: ``(label, options)`` pairs; labels unique, options non-empty and distinct.

    Attributes:
        feature_names: ``"label=option"`` for every column.
    """

    def __init__(self, choices: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self.choices: list[tuple[str, tuple[Any, ...]]] = []
        seen: set[str] = set()
        for item in choices:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise ValueError(f"`choices` entries must be (label, options) pairs, got {item!r}")
            label, options = item[0], tuple(item[1])
            if label in seen:
                raise ValueError(f"`choices` labels must be unique, got {label!r} twice")
            if not options or len(set(map(repr, options))) != len(options):
                raise ValueError(f"`choices` options of {label!r} must be non-empty and distinct, got {options!r}")
            seen.add(label)
            self.choices.append((label, options))
        if not self.choices:
            raise ValueError("`choices` must not be empty, got []")
        self.feature_names = [f"{label}={opt!r}" for label, opts in self.choices for opt in opts]

    @property
    def n_features(self) -> int:
        """Number of columns."""
        return len(self.feature_names)

    def encode(self, archs: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> np.ndarray:
        """Encodes architectures (a single ``dict`` is treated as a batch of one).

        Raises:
            ValueError: if a value is not one of its choice's options.
        """
        rows = _as_list(archs)
        out = np.zeros((len(rows), self.n_features))
        for r, arch in enumerate(rows):
            if not isinstance(arch, Mapping):
                raise ValueError(f"`archs` must hold dicts of label -> value, got {type(arch).__name__}")
            offset = 0
            for label, options in self.choices:
                if label in arch:
                    value = arch[label]
                    hit = [i for i, opt in enumerate(options) if type(opt) is type(value) and opt == value]
                    if not hit:
                        hit = [i for i, opt in enumerate(options) if opt == value]
                    if not hit:
                        raise ValueError(f"`{label}` must be one of {list(options)}, got {value!r}")
                    out[r, offset + hit[0]] = 1.0
                offset += len(options)
        return out


def macro_features(
    values: Mapping[str, Any], depth_labels: Sequence[str], width_labels: Sequence[str]
) -> np.ndarray:
    """Depth, width and a FLOPs-like cost of a macro (stage/layer) architecture.

    Two layouts are understood:

    - *stages*: ``depth_labels[s]`` and ``width_labels[s]`` give stage ``s``'s number of
      blocks and channel width (equal lengths);
    - *layers*: one depth label and one width label per layer; the first ``depth`` layers
      are active (inactive or missing width labels are skipped).

    A missing depth label counts as depth 0. Assumption of the FLOPs-like sum: every block
    costs ``width**2`` (a convolution or linear map with equal input and output width at a
    fixed resolution and kernel), so ``flops_like = sum(depth_s * width_s**2)``; resolution,
    kernel size and the first layer's input width are ignored.

    Returns:
        ``[total_depth, mean_width, max_width, flops_like]`` (:data:`MACRO_FEATURE_NAMES`);
        the mean width is weighted by depth; widths are 0 when no block is active.

    Raises:
        ValueError: if the label lists do not fit either layout or a value is not a number.
    """
    if len(depth_labels) == 1 and len(width_labels) >= 1:
        depth = int(values.get(depth_labels[0], 0))
        widths = [float(values[w]) for w in list(width_labels)[: max(depth, 0)] if w in values]
        depths = [1.0] * len(widths)
    elif len(depth_labels) == len(width_labels) and len(depth_labels) > 0:
        depths, widths = [], []
        for d_label, w_label in zip(depth_labels, width_labels):
            d = float(values.get(d_label, 0))
            if d > 0 and w_label in values:
                depths.append(d)
                widths.append(float(values[w_label]))
    else:
        raise ValueError(
            "`depth_labels` must hold one label, or one per entry of `width_labels` "
            f"({len(width_labels)}), got {len(depth_labels)}"
        )
    d_arr, w_arr = np.asarray(depths, dtype=float), np.asarray(widths, dtype=float)
    total = float(d_arr.sum())
    if total <= 0:
        return np.zeros(len(MACRO_FEATURE_NAMES))
    return np.array(
        [total, float((d_arr * w_arr).sum() / total), float(w_arr.max()), float((d_arr * w_arr**2).sum())]
    )


class MacroEncoder:
    """One-hot of every choice plus :func:`macro_features` (for CNN / transformer spaces).

    Args:
        choices: ``(label, options)`` pairs, as for :class:`OneHotEncoder`.
        depth_labels: Depth labels, see :func:`macro_features`.
        width_labels: Width labels, see :func:`macro_features`.
    """

    def __init__(
        self,
        choices: Sequence[tuple[str, Sequence[Any]]],
        depth_labels: Sequence[str],
        width_labels: Sequence[str],
    ) -> None:
        self.onehot = OneHotEncoder(choices)
        self.depth_labels = list(depth_labels)
        self.width_labels = list(width_labels)
        macro_features({}, self.depth_labels, self.width_labels)  # validates the layout
        self.feature_names = [*self.onehot.feature_names, *MACRO_FEATURE_NAMES]

    def encode(self, archs: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> np.ndarray:
        """Encodes architectures: one-hot columns, then the four macro features."""
        rows = _as_list(archs)
        macro = np.array(
            [macro_features(a, self.depth_labels, self.width_labels) for a in rows]
        ).reshape(len(rows), len(MACRO_FEATURE_NAMES))
        return np.hstack([self.onehot.encode(rows), macro])


class NB201Encoder:
    """NAS-Bench-201 cells to :func:`nb201_features` rows.

    Each architecture is a cell string, a sequence of six ops (edge order of
    :data:`predictors.nb201.NB201_EDGES`), or a mapping with an ``arch_str`` key (a table row).
    """

    feature_names: tuple[str, ...] = NB201_FEATURE_NAMES

    def encode(self, archs: Sequence[Any]) -> np.ndarray:
        """Returns an array of shape ``(len(archs), 44)``."""
        rows = [archs] if isinstance(archs, (str, Mapping)) else list(archs)
        feats = [nb201_features(a["arch_str"] if isinstance(a, Mapping) else a) for a in rows]
        return np.array(feats, dtype=float).reshape(len(rows), len(NB201_FEATURE_NAMES))


register_encoder("onehot", OneHotEncoder)
register_encoder("macro", MacroEncoder)
register_encoder("nb201", NB201Encoder)
