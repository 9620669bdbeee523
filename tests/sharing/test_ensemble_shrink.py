"""Diversity-guided shrinking and ensemble training: options removed, persisted, resumed exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.errors import ConfigError
from nas.sharing.shrink import ShrinkConfig, Shrinker
from nas.train import TrainConfig
from tests.sharing.ensemble_helpers import make_ensemble, small_mnist1d

RECIPE = TrainConfig(epochs=2, batch_size=128, num_random=1, warmup_epochs=0, lr=3e-3)
SHRINK = ShrinkConfig(at=(0.5,), samples=6, eval_size=200, calib_batches=1)


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def task():
    return small_mnist1d()


def _trainer(task, seed: int = 0):
    from nas.sharing.ensemble_train import EnsembleTrainer

    net, _ = make_ensemble(task, members=2, seed=seed)
    events: list[dict] = []
    shrinker = Shrinker(net.base_space, SHRINK, seed=5)
    return EnsembleTrainer(net, task, RECIPE, seed=1, shrinker=shrinker, on_shrink=events.append), events


def test_schedule_and_config_rules() -> None:
    assert ShrinkConfig(at=(0.5,)).epochs_for(1) == [1]
    assert ShrinkConfig(at=(1 / 3, 2 / 3)).epochs_for(9) == [3, 6]
    assert ShrinkConfig().epochs_for(0) == []
    with pytest.raises(ConfigError, match="shrink.at"):
        ShrinkConfig(at=(0.0,))
    with pytest.raises(ConfigError, match="shrink.samples"):
        ShrinkConfig(samples=0)


def test_shrinking_removes_the_worst_interior_option_of_each_dimension(task) -> None:
    net, _ = make_ensemble(task, members=2)
    shrinker = Shrinker(net.base_space, SHRINK, seed=0)
    scores = shrinker.scores(net, task)
    assert set(scores["s2.width"]) <= {8, 16, 32, 48} and all(0 <= s <= 1.5 for s in scores["s2.width"].values())
    event = shrinker.shrink(net, task, epoch=1)
    for label, opts in shrinker.options.items():
        full = net.base_space.choice(label).options
        assert opts[0] == full[0] and opts[-1] == full[-1]  # the cost range survives
        if label in event["removed"]:
            gone = event["removed"][label]
            assert gone not in opts and len(opts) == len(full) - 1
            used = event["scores"][label]  # the scores this event ranked by
            interior = [str(o) for o in full[1:-1] if str(o) in used]
            assert used[str(gone)] == min(used[o] for o in interior)
    assert event["removed"]  # something was removed
    # The supernet searches the narrowed space; its modules keep their full size.
    assert net.space.choice("m1.s2.width").options == shrinker.options["s2.width"]
    assert net.space.choice("s2.width").options == shrinker.options["s2.width"]
    arch = net.space.sample(np.random.default_rng(0))
    assert all(v in shrinker.options[lbl.split(".", 1)[1] if lbl.startswith("m") else lbl]
               for lbl, v in arch.items if lbl not in ("members", "split"))
    again = Shrinker(net.base_space, SHRINK, seed=0)
    again.load_state_dict(shrinker.state_dict())
    assert again.options == shrinker.options and again.history == shrinker.history


def test_killed_training_resumes_to_the_same_weights_and_shrunk_space(task, tmp_path) -> None:
    whole, events = _trainer(task)
    whole.fit(tmp_path / "whole.safetensors")
    assert [e["epoch"] for e in events] == [1]

    ckpt = tmp_path / "killed.safetensors"
    first, _ = _trainer(task)

    def stop(_stats) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        first.fit(ckpt, on_epoch=stop)  # killed after epoch 1 (checkpoint written, shrink done)
    resumed, resumed_events = _trainer(task)
    resumed.fit(ckpt)
    assert resumed_events == []  # the shrink of epoch 1 came back with the checkpoint, not re-run
    assert resumed.shrinker.options == whole.shrinker.options
    assert resumed.net.space.choice("s3.width").options == whole.net.space.choice("s3.width").options
    for (name, a), (_, b) in zip(whole.net.state_dict().items(), resumed.net.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
