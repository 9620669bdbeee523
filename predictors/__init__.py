"""Accuracy and latency predictors, architecture encodings and predictor metrics.

Importing the package registers every built-in predictor in :data:`PREDICTORS` and every
built-in encoder in :data:`ENCODERS`.
"""

from __future__ import annotations

from predictors.base import PREDICTORS, Predictor, make_predictor, register_predictor
from predictors.blend import BlendPredictor
from predictors.encoding import (
    ENCODERS,
    MACRO_FEATURE_NAMES,
    Encoder,
    MacroEncoder,
    NB201Encoder,
    OneHotEncoder,
    macro_features,
    make_encoder,
    register_encoder,
)
from predictors.ensemble import MLPEnsemblePredictor
from predictors.latency import LutCorrectionPredictor
from predictors.linear import RidgePredictor, SVRPredictor
from predictors.metrics import kendall_tau, mape, regression_report, spearman, top_k_regret, within
from predictors.nb201 import (
    NB201_EDGES,
    NB201_FEATURE_NAMES,
    NB201_OPS,
    nb201_arch_str,
    nb201_features,
    parse_nb201,
)
from predictors.ranking import RankingMLPPredictor
from predictors.trees import ExtraTreesPredictor, GBMPredictor, RandomForestPredictor

__all__ = [
    "BlendPredictor",
    "ENCODERS",
    "MACRO_FEATURE_NAMES",
    "NB201_EDGES",
    "NB201_FEATURE_NAMES",
    "NB201_OPS",
    "PREDICTORS",
    "Encoder",
    "ExtraTreesPredictor",
    "GBMPredictor",
    "LutCorrectionPredictor",
    "MLPEnsemblePredictor",
    "MacroEncoder",
    "NB201Encoder",
    "OneHotEncoder",
    "Predictor",
    "RandomForestPredictor",
    "RankingMLPPredictor",
    "RidgePredictor",
    "SVRPredictor",
    "kendall_tau",
    "macro_features",
    "make_encoder",
    "make_predictor",
    "mape",
    "nb201_arch_str",
    "nb201_features",
    "parse_nb201",
    "register_encoder",
    "register_predictor",
    "regression_report",
    "spearman",
    "top_k_regret",
    "within",
]
