"""Sub-supernets: routing, exact inheritance at a split, checkpoint and resume of split training."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from nas.catalog import SPACES
from nas.data import Split
from nas.errors import ConfigError
from nas.sharing.gm_split import LayerSplit
from nas.sharing.gm_train import GMSettings, GMTrainer
from nas.sharing.routed import SubSupernets, restrict
from nas.supernet.base import seeded_build
from nas.train import TrainConfig

LABELS = ("e01.op", "e02.op", "e12.op")
CFG = TrainConfig(epochs=2, batch_size=128, num_random=0, warmup_epochs=0)


@pytest.fixture(scope="module")
def small_task(mnist1d_task):
    return replace(mnist1d_task, train=Split(mnist1d_task.train.x[:256], mnist1d_task.train.y[:256]),
                   val=Split(mnist1d_task.val.x[:128], mnist1d_task.val.y[:128]))


def _net(task, structure=None) -> SubSupernets:
    spec = SPACES.get("cell1d")
    return seeded_build(lambda: SubSupernets(spec.build_supernet(spec.build_space(), task), structure), 0)


def _opt_state(trainer) -> dict:
    return trainer.opt.state_dict()["state"]


def test_every_architecture_is_routed_to_the_one_sub_supernet_that_owns_it(small_task):
    net = _net(small_task, [{"e01.op": ["skip", "avgpool"]}, {"e01.op": ["conv3", "conv5"], "e12.op": ["conv5"]},
                            {"e01.op": ["conv3", "conv5"], "e12.op": ["skip", "avgpool", "conv3"]}])
    x = small_task.val.x[:8]
    net.eval()
    for arch in net.space.enumerate():
        owners = [i for i in range(len(net)) if not net.sub(i).space.validate(arch)]
        assert owners == [net.route(arch)]
        with net.activate(arch):
            out = net(x)
        assert torch.allclose(out, net.sub(owners[0]).export(arch).eval()(x), atol=1e-5)
        assert torch.allclose(out, net.export(arch)(x), atol=1e-5)
    with pytest.raises(ConfigError, match=r"`restriction\['e01.op'\]` must keep a non-empty subset"):
        restrict(net.space, {"e01.op": ["conv7"]})


def test_split_children_inherit_weights_and_optimiser_state_exactly(small_task):
    net = _net(small_task)
    trainer = GMTrainer(net, small_task, replace(CFG, epochs=1), 3, GMSettings((), LABELS, gm_batches=1))
    trainer.fit()
    weights = {k: v.clone() for k, v in net.sub(0).state_dict().items()}
    opt = {i: {k: v.clone() for k, v in st.items()} for i, st in _opt_state(trainer.trainers[0]).items()}
    parent = trainer.trainers[0]
    counters = (parent.epoch, parent.step, parent.rng.bit_generator.state)

    done = trainer.split_round(1)  # gradient matching picks the layer and the groups

    assert len(done) == 1 and len(net) == 2 and len(trainer.trainers) == 2
    label, (a, b) = done[0].label, done[0].groups
    assert net.structure == [{label: list(a)}, {label: list(b)}]
    for i in range(2):
        sub, t = net.sub(i), trainer.trainers[i]
        assert sub.state_dict().keys() == weights.keys()
        assert all(torch.equal(sub.state_dict()[k], v) for k, v in weights.items())
        state = _opt_state(t)
        assert state.keys() == opt.keys() and len(state) > 0
        assert all(torch.equal(state[p][k], v) for p, st in opt.items() for k, v in st.items())
        assert (t.epoch, t.step, t.rng.bit_generator.state) == counters
        assert not sub.space.validate(sub.active_arch)  # its active subnet lies in its own part
    # separate copies: training one child leaves the other where it was
    w0 = dict(net.sub(0).named_parameters())["cells.0.edges.e01.conv.weight"]
    w1 = dict(net.sub(1).named_parameters())["cells.0.edges.e01.conv.weight"]
    assert w0.data_ptr() != w1.data_ptr()
    trainer.trainers[1].train_epoch()
    assert all(torch.equal(net.sub(0).state_dict()[k], v) for k, v in weights.items())
    assert not all(torch.equal(net.sub(1).state_dict()[k], v) for k, v in weights.items())


def test_split_rejects_groups_that_do_not_partition_the_options(small_task):
    net = _net(small_task)
    with pytest.raises(ConfigError, match="`groups` must partition"):
        net.split(0, "e01.op", (["skip"], ["conv3"]))
    trainer = GMTrainer(net, small_task, CFG, 0, GMSettings((), LABELS))
    with pytest.raises(ConfigError, match="`index` must be in"):
        trainer.split(4, LayerSplit("e01.op", (("skip",), ("avgpool", "conv3", "conv5")), 0.0, (), ()), 0)


class _Stop(Exception):
    pass


def test_a_run_interrupted_before_its_split_resumes_to_the_same_weights(small_task, tmp_path):
    settings = GMSettings((1,), LABELS, gm_batches=1, max_subnets=2)
    straight = _net(small_task)
    GMTrainer(straight, small_task, CFG, 5, settings).fit()
    assert len(straight) == 2 and len(straight.history) == 1

    ckpt = tmp_path / "state.safetensors"
    first = _net(small_task)

    def stop(stats):
        raise _Stop

    with pytest.raises(_Stop):
        GMTrainer(first, small_task, CFG, 5, settings).fit(ckpt, on_epoch=stop)
    assert len(first) == 1  # killed after epoch 1, before the split

    resumed = _net(small_task)
    splits: list[dict] = []
    GMTrainer(resumed, small_task, CFG, 5, settings).fit(ckpt, on_split=splits.append)
    assert [s["epoch"] for s in splits] == [1]
    assert resumed.structure == straight.structure and resumed.history == straight.history
    ref = straight.state_dict()
    assert resumed.state_dict().keys() == ref.keys()
    assert all(torch.allclose(v, ref[k]) for k, v in resumed.state_dict().items())

    # a checkpoint written after the split rebuilds the sub-supernets on an unsplit network
    again = _net(small_task)
    trainer = GMTrainer(again, small_task, CFG, 5, settings)
    trainer.load(ckpt)
    assert again.structure == straight.structure and len(trainer.trainers) == 2
    assert all(torch.equal(v, ref[k]) for k, v in again.state_dict().items())


def test_cnn1d_splits_along_a_kernel_or_width_choice_and_routes_by_it(small_task):
    import numpy as np

    from nas.sharing.gm_mode import candidate_labels
    from nas.sharing.gm_split import best_split
    from search_spaces.cnn1d import CNN1dSupernet, build_cnn1d_space

    space = build_cnn1d_space(widths=(4, 8))
    labels = candidate_labels(space, ["s2.b1.kernel", "s1.width"])
    with pytest.raises(ConfigError, match="`sharing.split_labels` must name unconditional choices"):
        candidate_labels(space, ["s2.b2.kernel"])  # only present when s2.depth >= 2: cannot route
    assert "s2.b2.kernel" not in candidate_labels(space)
    net = seeded_build(lambda: SubSupernets(CNN1dSupernet(space, 1, 40, 10)), 0)
    data = [(small_task.train.x[:64], small_task.train.y[:64])]
    split = best_split(net.sub(0), labels, data, np.random.default_rng(0))
    assert split is not None and split.label in labels
    assert sorted(split.groups[0] + split.groups[1]) == sorted(space.choice(split.label).options)
    net.split(0, split.label, split.groups)
    net.eval()
    x = small_task.val.x[:4]
    rng = np.random.default_rng(1)
    for arch in [space.sample(rng) for _ in range(6)] + [net.max_arch(), net.min_arch()]:
        i = net.route(arch)
        assert arch[split.label] in split.groups[i] and not net.sub(i).space.validate(arch)
        with torch.no_grad(), net.activate(arch):
            assert torch.allclose(net(x), net.export(arch)(x), atol=1e-5)


def test_two_split_rounds_make_four_sub_supernets_each_split_along_its_own_layer(small_task):
    net = _net(small_task)
    trainer = GMTrainer(net, small_task, CFG, 2, GMSettings((1,), LABELS, gm_batches=1, max_subnets=4, rounds=2))
    trainer.fit()
    assert len(net) == 4 and [h["parent"] for h in net.history] == [0, 0, 1]
    arch_owners = [net.route(a) for a in net.space.enumerate()]
    assert sorted(set(arch_owners)) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match=r"`rounds` must be in \[1, 4\]"):
        GMSettings((1,), LABELS, rounds=0)
