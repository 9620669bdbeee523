"""Property-based tests (hypothesis): parsers never crash with anything but a ConfigError, and
``arch_id`` is a function of the canonical architecture only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.catalog import SPACES
from nas.config import load_config
from nas.errors import ConfigError
from nas.search.budget import parse_budget
from nas.search.objectives import parse_constraint, parse_objectives

SPACE = SPACES.get("cnn1d").build_space()


@given(st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.floats(allow_nan=True)))
@settings(max_examples=300, deadline=None)
def test_parse_budget_accepts_or_names_the_budget(value):
    try:
        b = parse_budget(value)
    except ConfigError as e:
        assert str(e).startswith("`budget") and "got" in str(e)
    else:
        assert (b.evaluations or 0) > 0 or (b.seconds or 0) > 0


@given(st.integers(1, 10**6))
def test_every_positive_count_is_an_evaluation_budget(n):
    assert parse_budget(str(n)).evaluations == n


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_parse_constraint_accepts_or_names_the_constraint(text):
    try:
        c = parse_constraint(text)
    except ConfigError as e:
        assert str(e).startswith("`constraint`")
    else:
        assert c.op in ("<=", ">=") and np.isfinite(c.bound)


@given(st.sampled_from(["accuracy", "latency_ms", "params"]), st.sampled_from(["<=", ">="]),
       st.floats(-1e6, 1e6, allow_nan=False))
def test_constraint_roundtrip(metric, op, bound):
    c = parse_constraint(f"{metric}{op}{bound!r}")
    assert (c.metric, c.op, c.bound) == (metric, op, bound)
    assert c.violation({metric: bound}) == 0.0


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_parse_objectives_accepts_or_names_objectives(text):
    try:
        objs = parse_objectives(text)
    except ConfigError as e:
        assert str(e).startswith("`objectives`")
    else:
        assert objs and len({o.metric for o in objs}) == len(objs)


@given(st.dictionaries(st.sampled_from(["budget", "seed", "strategy", "train.epochs", "train.lr", "eval.calib_batches",
                                        "population_size", "bogus"]),
                       st.one_of(st.integers(-5, 50), st.text(max_size=5), st.floats(-1, 1, allow_nan=False),
                                 st.booleans(), st.none()), max_size=4))
@settings(max_examples=200, deadline=None)
def test_config_overrides_load_or_raise_one_line_config_errors(overrides):
    try:
        load_config(None, overrides)
    except ConfigError as e:
        assert "\n" not in str(e) and "`" in str(e)


@given(st.integers(0, 2**32 - 1), st.data())
@settings(max_examples=100, deadline=None)
def test_arch_id_ignores_inactive_choices_and_label_order(seed, data):
    arch = SPACE.sample(np.random.default_rng(seed))
    values = SPACE.params(arch)  # inactive choices filled with arbitrary (first) options
    for c in SPACE.choices:
        if c.label not in arch:
            values[c.label] = data.draw(st.sampled_from(c.options))
    shuffled = dict(sorted(values.items(), key=lambda kv: data.draw(st.integers(0, 1000))))
    same = SPACE.make(shuffled)
    assert same.arch_id == arch.arch_id and same == arch


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_distinct_canonical_archs_have_distinct_ids(s1, s2):
    a, b = SPACE.sample(np.random.default_rng(s1)), SPACE.sample(np.random.default_rng(s2))
    assert (a.arch_id == b.arch_id) == (a == b)
