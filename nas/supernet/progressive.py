"""Progressive shrinking (OFA): elastic kernel first, then depth, then width.

The schedule splits training into three phases. In phase 0 only kernel dimensions are sampled
(everything else at its largest option); phase 1 adds depth; phase 2 samples every dimension
(widths: channel counts, expand ratios, heads, embedding, MLP ratios and any other dimension).
Dimensions are classified by their label's last part (``...kernel``, ``...depth``), the naming
convention of the built-in spaces.
"""

from __future__ import annotations

import numpy as np

from nas.errors import invalid
from nas.space import Arch, SearchSpace

__all__ = ["PHASES", "phase_of", "dimension_kind", "progressive_sample"]

PHASES = ("kernel", "depth", "width")


def dimension_kind(label: str) -> str:
    """``kernel``, ``depth`` or ``width`` (everything else) for a dimension label."""
    last = label.rsplit(".", 1)[-1]
    return last if last in ("kernel", "depth") else "width"


def phase_of(epoch: int, epochs: int) -> int:
    """The phase (0, 1, 2) of a 0-based ``epoch`` out of ``epochs``: equal thirds."""
    if epochs <= 0:
        raise invalid("epochs", "be positive", epochs)
    return min(len(PHASES) - 1, epoch * len(PHASES) // epochs)


def progressive_sample(space: SearchSpace, rng: np.random.Generator, phase: int) -> Arch:
    """Samples the dimensions unlocked by ``phase``; the others take their largest option."""
    if not 0 <= phase < len(PHASES):
        raise invalid("phase", f"be in [0, {len(PHASES) - 1}]", phase)
    unlocked = set(PHASES[: phase + 1])
    values = space.max_values()
    for c in space.choices:
        if dimension_kind(c.label) in unlocked:
            values[c.label] = c.options[int(rng.integers(len(c.options)))]
    return space.make(values)
