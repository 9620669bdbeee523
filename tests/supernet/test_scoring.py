"""Sequence models score through the generic evaluator; spaces set their default epochs."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import torch

from nas.catalog import SPACES
from nas.data import TASKS, Split
from nas.evaluate import EvalConfig, Evaluator, accuracy, bits_per_token
from nas.profiling.measure import LatencyProtocol
from nas.supernet.base import seeded_build


def _tinylm():
    spec = SPACES.get("tinylm")
    task = TASKS.get("pydoc-text").load(0)
    task = replace(task, train=Split(task.train.x[:32], task.train.y[:32]), val=Split(task.val.x[:40], task.val.y[:40]),
                   test=Split(task.test.x[:40], task.test.y[:40]))
    return spec, task, seeded_build(lambda: spec.build_supernet(spec.build_space(), task), 0).eval()


def test_language_model_metrics_are_per_character():
    spec, task, net = _tinylm()
    cfg = EvalConfig(calib_batches=1, calib_batch_size=16, latency=LatencyProtocol(warmup=1, repeats=3))
    metrics = Evaluator(net, task, cfg).evaluate(net.min_arch(), seed=0)
    assert set(spec.metrics) <= set(metrics)
    assert 0.0 <= metrics["accuracy"] <= 100.0 and 0.0 <= metrics["test_accuracy"] <= 100.0
    # An untrained model predicts about uniformly: close to log2(vocab) bits per character.
    assert abs(metrics["bpc"] - math.log2(task.num_classes)) < 1.0
    static = net.export(net.min_arch()).eval()
    logits = static(task.val.x)
    ce = torch.nn.functional.cross_entropy(logits, task.val.y).item() / math.log(2)
    assert abs(bits_per_token(static, task.val) - ce) < 1e-4
    hits = (logits.argmax(1) == task.val.y).float().mean().item() * 100
    assert abs(accuracy(static, task.val) - hits) < 1e-6


def test_search_uses_the_space_default_epochs_unless_told():
    from nas.cli import _epochs

    base = dict(epochs=None, config=None, space="mbconv")
    assert _epochs(argparse.Namespace(**base)) == SPACES.get("mbconv").default_epochs
    assert _epochs(argparse.Namespace(**(base | {"epochs": 7}))) == 7
    assert _epochs(argparse.Namespace(**(base | {"config": "c.yaml"}))) is None
    assert _epochs(argparse.Namespace(**(base | {"space": "cnn1d"}))) is None  # no default: the config's
