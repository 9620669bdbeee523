"""The networks of ``nas bench npas``: natural supernets and their width-reduced twins."""

from __future__ import annotations

import pytest
import torch

from benchmarks.npas_models import mbconv_scaled, natural_net, params_of, width_net
from nas.data import Split, Task
from nas.errors import ConfigError


def _image_task() -> Task:
    """Shapes of mnist5k (28x28, 10 classes) with a handful of random images."""
    gen = torch.Generator().manual_seed(0)
    split = Split(torch.randn(4, 1, 28, 28, generator=gen), torch.arange(4))
    return Task("fake-mnist", (1, 28, 28), 10, split, split, split)


def test_mbconv_at_scale_one_is_the_max_architecture_of_the_space():
    task = _image_task()
    natural = natural_net("mbconv", task)
    static = natural.export(natural.max_arch())
    twin = mbconv_scaled(task, 1.0)
    assert params_of(twin) == params_of(static) == params_of(natural)
    assert [tuple(p.shape) for p in twin.parameters()] == [tuple(p.shape) for p in static.parameters()]
    assert twin(task.train.x).shape == (4, 10)


@pytest.mark.parametrize("space, task_fn", [("mbconv", _image_task), ("cnn1d", None)])
def test_the_width_reduced_network_is_the_one_closest_to_the_budget(space, task_fn, mnist1d_task):
    task = task_fn() if task_fn else mnist1d_task
    natural = params_of(natural_net(space, task))
    nets = []
    for fraction in (0.1, 0.25):
        budget = int(fraction * natural)
        net, info = width_net(space, task, budget)
        assert abs(params_of(net) - budget) <= 0.1 * budget
        assert net(task.val.x[:2]).shape == (2, task.num_classes)
        assert set(info) == {"scale" if space == "mbconv" else "width"}
        nets.append(net)
    assert params_of(nets[0]) < params_of(nets[1])


def test_bad_options_are_named_in_the_error(mnist1d_task):
    from benchmarks.npas import run

    with pytest.raises(ConfigError, match="--space"):
        natural_net("resnet", mnist1d_task)
    with pytest.raises(ConfigError, match="--space"):
        run(space="resnet")
    with pytest.raises(ConfigError, match="--processes"):
        run(processes=0)
    with pytest.raises(ConfigError, match="--methods"):
        run(methods=("learned", "oracle"))
