"""SearchSpace / Arch: sampling, validation, canonical ids, encodings."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nas.catalog import SPACES
from nas.errors import ConfigError
from nas.space import Choice, Condition, SearchSpace


@pytest.fixture
def space() -> SearchSpace:
    return SPACES.get("cnn1d").build_space()


def test_sample_is_valid_and_seeded(space):
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert space.validate(arch) == []


def test_inactive_choices_are_dropped_from_the_canonical_form(space):
    values = space.max_values() | {"s1.depth": 1, "s1.b2.kernel": 3, "s1.b3.kernel": 5}
    arch = space.make(values)
    assert "s1.b2.kernel" not in arch and "s1.b3.kernel" not in arch
    other = space.make(values | {"s1.b2.kernel": 7})  # differs only in an inactive choice
    assert other.arch_id == arch.arch_id


def test_validate_names_each_problem(space):
    problems = space.validate({"s1.depth": 9, "bogus": 1})
    text = " ".join(problems)
    assert "unknown label `bogus`" in text
    assert "`s1.depth` must be one of [1, 2, 3], got 9" in text
    assert "`s2.width` is missing" in text
    with pytest.raises(ConfigError, match="invalid"):
        space.check({"s1.depth": 9})


def test_arch_id_is_stable_across_processes(space):
    arch = space.sample(np.random.default_rng(11))
    code = (
        "import json,sys,search_spaces; from nas.catalog import SPACES; "
        "sp=SPACES.get('cnn1d').build_space(); print(sp.make(json.loads(sys.argv[1])).arch_id)"
    )
    out = subprocess.run([sys.executable, "-c", code, arch.to_json()], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == arch.arch_id


def test_arch_json_roundtrip_and_params(space):
    arch = space.sample(np.random.default_rng(5))
    assert space.arch_from_json(json.loads(arch.to_json())) == arch
    params = space.params(arch)
    assert set(params) == set(space.labels)
    assert space.make(params) == arch


def test_encode_is_one_hot_with_zero_inactive(space):
    arch = space.make(space.min_values())
    x = space.encode(arch)
    assert x.shape == (sum(len(c.options) for c in space.choices),)
    active = len(arch.items)
    assert x.sum() == active
    assert set(np.unique(x)) <= {0.0, 1.0}


def test_duplicate_labels_and_bad_conditions_are_refused():
    with pytest.raises(ConfigError, match="unique labels"):
        SearchSpace("x", [Choice("a", (1, 2)), Choice("a", (1, 2))])
    with pytest.raises(ConfigError, match="earlier label"):
        SearchSpace("x", [Choice("b", (1, 2), Condition("a", 2)), Choice("a", (1, 2))])


def test_enumerate_small_space_and_refuse_large():
    sp = SearchSpace("t", [Choice("d", (1, 2)), Choice("k1", (3, 5)), Choice("k2", (3, 5), Condition("d", 2))])
    archs = list(sp.enumerate())
    assert len(archs) == 2 + 4  # depth 1: 2 kernels; depth 2: 2x2
    assert len({a.arch_id for a in archs}) == len(archs)
    with pytest.raises(ConfigError, match="limit"):
        list(SPACES.get("cnn1d").build_space().enumerate(limit=10))
