"""Encoders: one-hot, macro features, NB201 cells (hand-checked and on the real table)."""

from __future__ import annotations

import numpy as np
import pytest

from predictors import (
    ENCODERS,
    MACRO_FEATURE_NAMES,
    NB201_FEATURE_NAMES,
    Encoder,
    MacroEncoder,
    NB201Encoder,
    OneHotEncoder,
    macro_features,
    make_encoder,
    nb201_arch_str,
    nb201_features,
    parse_nb201,
    register_encoder,
)

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def feats(arch: str) -> dict[str, float]:
    return dict(zip(NB201_FEATURE_NAMES, nb201_features(arch)))


def cell(*ops: str) -> str:
    return nb201_arch_str(ops)


def test_parse_and_round_trip() -> None:
    ops = parse_nb201(EXAMPLE)
    assert ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert nb201_arch_str(ops) == EXAMPLE
    assert np.array_equal(nb201_features(ops), nb201_features(EXAMPLE))


@pytest.mark.parametrize(
    "bad",
    ["", "|none~0|+|none~0|none~1|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
     "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"],
)
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="`arch_str`"):
        parse_nb201(bad)


def test_example_cell_hand_checked() -> None:
    f = feats(EXAMPLE)
    assert len(nb201_features(EXAMPLE)) == len(NB201_FEATURE_NAMES) == 44
    assert f["edge_1<-0=nor_conv_3x3"] == 1 and f["edge_1<-0=none"] == 0
    assert all(f[f"live_{t}<-{s}"] == 1 for t, s in [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)])
    # paths 0-3 (skip), 0-1-3 (conv, conv), 0-2-3 (conv, skip), 0-1-2-3 (conv, pool, skip)
    assert f["n_paths"] == 4
    assert (f["n_conv3x3_live"], f["n_conv1x1_live"], f["n_skip_live"], f["n_pool_live"]) == (3, 0, 2, 1)
    assert (f["max_conv_depth"], f["min_conv_depth"], f["disconnected"]) == (2, 0, 0)


def test_all_none_cell_is_disconnected() -> None:
    f = feats(cell(*["none"] * 6))
    assert f["disconnected"] == 1 and f["n_paths"] == 0
    assert sum(v for k, v in f.items() if k.startswith("live_")) == 0


def test_skip_only_cell_has_paths_but_no_convs() -> None:
    f = feats(cell(*["skip_connect"] * 6))
    assert f["n_paths"] == 4 and f["disconnected"] == 0
    assert f["n_conv1x1_live"] == f["n_conv3x3_live"] == f["max_conv_depth"] == 0
    assert f["n_skip_live"] == 6


def test_convs_behind_a_cut_are_not_live() -> None:
    # node 1 gets nothing, so node 2 (fed only by node 1) and the output are unreachable
    f = feats(cell("none", "none", "nor_conv_3x3", "none", "none", "nor_conv_1x1"))
    assert f["disconnected"] == 1
    assert f["n_conv3x3_live"] == f["n_conv1x1_live"] == 0


def test_dead_end_branch_is_not_live() -> None:
    # 1<-0 conv leads nowhere (node 1 feeds no used edge); only the 0->3 skip is a path
    f = feats(cell("nor_conv_3x3", "none", "none", "skip_connect", "none", "none"))
    assert f["live_1<-0"] == 0 and f["live_3<-0"] == 1
    assert f["n_paths"] == 1 and f["n_conv3x3_live"] == 0 and f["max_conv_depth"] == 0


def test_chain_conv_depth() -> None:
    f = feats(cell("nor_conv_1x1", "none", "nor_conv_3x3", "none", "none", "nor_conv_3x3"))
    assert f["n_paths"] == 1 and f["max_conv_depth"] == f["min_conv_depth"] == 3
    assert (f["n_conv1x1_live"], f["n_conv3x3_live"]) == (1, 2)


def test_nb201_on_the_real_table(nb201_table) -> None:
    X = NB201Encoder().encode(nb201_table["arch_str"].tolist())
    acc = nb201_table["c10_valid_acc_200ep"].to_numpy()
    assert X.shape == (15625, 44)
    assert len(np.unique(X[:, :30], axis=0)) == 15625  # the one-hot alone is injective
    broken = X[:, NB201_FEATURE_NAMES.index("disconnected")] == 1
    # DESIGN §8: disconnected cells are exactly the ~10%-accuracy ones
    assert broken.sum() > 100
    assert np.all(acc[broken] < 15) and np.all(acc[~broken] > 15)
    # each op on each edge appears equally often in the full space
    assert np.allclose(X[:, :30].mean(axis=0), 0.2)


def test_nb201_encoder_accepts_rows_and_strings() -> None:
    enc = make_encoder("nb201")
    assert isinstance(enc, Encoder)
    a = enc.encode([EXAMPLE, {"arch_str": EXAMPLE}])
    assert a.shape == (2, 44) and np.array_equal(a[0], a[1])
    assert enc.encode(EXAMPLE).shape == (1, 44)


CHOICES = [("depth", [1, 2, 3]), ("w0", [8, 16]), ("w1", [8, 16]), ("act", ["relu", "gelu"])]


def test_onehot_encoder() -> None:
    enc = OneHotEncoder(CHOICES)
    assert enc.n_features == 9
    out = enc.encode([{"depth": 2, "w0": 16, "w1": 8, "act": "gelu"}, {"depth": 1, "w0": 8, "act": "relu"}])
    assert out.tolist() == [
        [0, 1, 0, 0, 1, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0, 0, 1, 0],  # w1 inactive: all zeros
    ]
    assert enc.encode({"depth": 3}).shape == (1, 9)
    assert enc.feature_names[0] == "depth=1"


def test_onehot_encoder_errors() -> None:
    with pytest.raises(ValueError, match="`w0` must be one of"):
        OneHotEncoder(CHOICES).encode([{"w0": 12}])
    with pytest.raises(ValueError, match="unique"):
        OneHotEncoder([("a", [1]), ("a", [2])])
    with pytest.raises(ValueError, match="non-empty"):
        OneHotEncoder([("a", [])])


def test_macro_features_stage_layout() -> None:
    values = {"d1": 2, "d2": 3, "w1": 16, "w2": 32}
    got = macro_features(values, ["d1", "d2"], ["w1", "w2"])
    # depth 5; mean width (2*16 + 3*32) / 5; FLOPs-like 2*16^2 + 3*32^2
    assert got.tolist() == [5.0, 25.6, 32.0, 3584.0]


def test_macro_features_layer_layout_skips_inactive() -> None:
    values = {"depth": 2, "w0": 8, "w1": 16, "w2": 32}
    assert macro_features(values, ["depth"], ["w0", "w1", "w2"]).tolist() == [2.0, 12.0, 16.0, 320.0]
    assert macro_features({}, ["depth"], ["w0"]).tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="`depth_labels`"):
        macro_features(values, ["a", "b"], ["w0", "w1", "w2"])


def test_macro_encoder_appends_macro_features() -> None:
    enc = MacroEncoder(CHOICES, ["depth"], ["w0", "w1"])
    out = enc.encode([{"depth": 2, "w0": 16, "w1": 8, "act": "relu"}])
    assert out.shape == (1, 9 + len(MACRO_FEATURE_NAMES))
    assert out[0, -4:].tolist() == [2.0, 12.0, 16.0, 320.0]


def test_encoder_registry() -> None:
    assert {"onehot", "macro", "nb201"} <= set(ENCODERS)
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("onehot", OneHotEncoder)
    with pytest.raises(ValueError, match=r"`encoder` must be one of \[.*nb201.*\], got 'nope'"):
        make_encoder("nope")
    name = "test_pred_encoding_custom"
    try:
        register_encoder(name, lambda: NB201Encoder())
        assert make_encoder(name).encode([EXAMPLE]).shape == (1, 44)
    finally:
        ENCODERS._entries.pop(name, None)
