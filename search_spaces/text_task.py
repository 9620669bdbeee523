"""The ``pydoc-text`` task: character-level language modelling on CPython's bundled docs text.

The text is ``pydoc_data.topics.topics`` (ships with CPython, no download), topics joined in
sorted order. Characters outside printable ASCII and newline map to ``?``. The text is cut into
non-overlapping windows of ``SEQ_LEN + 1`` characters; inputs are the first ``SEQ_LEN``, targets
the next character at every position. Windows are shuffled with a fixed data seed and split.

Inputs are token ids stored as floats ``(N, SEQ_LEN)`` (see
:class:`nas.supernet.static.TokenEmbedding`); targets are ``(N, SEQ_LEN)`` class ids, so a
model's logits are ``(B, vocab, SEQ_LEN)`` and top-1 accuracy is next-character accuracy.
"""

from __future__ import annotations

import numpy as np
import torch

from nas.data import TASKS, Split, Task, TaskSpec

__all__ = ["VOCAB", "SEQ_LEN", "encode_text", "load_pydoc_text"]

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
SEQ_LEN = 64
MAX_CHARS = 200_000
N_VAL, N_TEST = 300, 300
DATA_SEED = 20240602


def encode_text(text: str) -> np.ndarray:
    """Character ids in :data:`VOCAB` (unknown characters become ``?``)."""
    index = {ch: i for i, ch in enumerate(VOCAB)}
    unknown = index["?"]
    return np.array([index.get(ch, unknown) for ch in text], dtype=np.int64)


def load_pydoc_text(seed: int = 0, max_chars: int = MAX_CHARS) -> Task:
    """Loads the task (a fraction of a second: the text is in the standard library).

    Args:
        seed: Unused: the data seed is fixed so that every run sees the same splits.
        max_chars: Characters of the text used (from its start).
    """
    del seed
    from pydoc_data.topics import topics

    text = "\n".join(topics[k] for k in sorted(topics))[:max_chars]
    ids = encode_text(text)
    n = len(ids) // (SEQ_LEN + 1)
    windows = ids[: n * (SEQ_LEN + 1)].reshape(n, SEQ_LEN + 1)
    windows = windows[np.random.default_rng(DATA_SEED).permutation(n)]
    x = torch.tensor(windows[:, :-1], dtype=torch.float32)
    y = torch.tensor(windows[:, 1:], dtype=torch.long)
    a, b = n - N_VAL - N_TEST, n - N_TEST
    return Task(
        name="pydoc-text",
        input_shape=(SEQ_LEN,),
        num_classes=len(VOCAB),
        train=Split(x[:a], y[:a]),
        val=Split(x[a:b], y[a:b]),
        test=Split(x[b:], y[b:]),
    )


TASKS.add("pydoc-text", TaskSpec("pydoc-text", load_pydoc_text,
                                 f"character LM on CPython's pydoc topics text, {len(VOCAB)} symbols, length {SEQ_LEN}"))
