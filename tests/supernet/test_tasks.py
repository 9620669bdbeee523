"""The new tasks load offline with fixed, seeded splits and the shapes their spaces expect."""

from __future__ import annotations

import pytest
import torch

from nas.data import TASKS
from search_spaces.text_task import SEQ_LEN, VOCAB, encode_text


@pytest.mark.parametrize("name,shape,sizes", [
    ("mnist5k", (1, 28, 28), (3500, 500, 1000)),
    ("digits", (1, 8, 8), (1097, 300, 400)),
])
def test_image_tasks_shapes_and_splits(name, shape, sizes):
    task = TASKS.get(name).load(0)
    assert task.input_shape == shape and task.num_classes == 10
    assert (len(task.train), len(task.val), len(task.test)) == sizes
    assert tuple(task.train.x.shape[1:]) == shape and task.train.x.dtype == torch.float32
    assert set(task.train.y.unique().tolist()) == set(range(10))  # shuffled: every class in train
    assert abs(float(task.train.x.mean())) < 1e-3  # standardised on the training split
    again = TASKS.get(name).load(7)
    assert torch.equal(again.val.x, task.val.x) and torch.equal(again.test.y, task.test.y)


def test_pydoc_text_windows_are_next_character_targets():
    task = TASKS.get("pydoc-text").load(0)
    assert task.input_shape == (SEQ_LEN,) and task.num_classes == len(VOCAB)
    x, y = task.train.x, task.train.y
    assert x.shape[1] == SEQ_LEN and y.shape == x.shape
    assert torch.equal(x[:, 1:].long(), y[:, :-1])  # targets are inputs shifted by one
    assert int(y.max()) < len(VOCAB) and int(y.min()) >= 0
    assert len(task.val) == 300 and len(task.test) == 300 and len(task.train) > 2000
    assert torch.equal(TASKS.get("pydoc-text").load(3).val.y, task.val.y)


def test_unknown_characters_map_to_question_mark():
    assert encode_text("a\u00e9\n").tolist() == [VOCAB.index("a"), VOCAB.index("?"), 0]
