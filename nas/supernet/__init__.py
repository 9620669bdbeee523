"""Supernets and their elastic ops.

Elastic ops only slice one max-size weight; the active choice (an ``int``, or a
:class:`Mixture` for superposition) is set from outside with ``set_active``; every op can
``export()`` its active configuration to a plain ``torch.nn`` module.
"""

from __future__ import annotations

from nas.supernet.attention import ElasticSelfAttention
from nas.supernet.base import Supernet, seeded_build
from nas.supernet.conv2d import ElasticConv2d, centre_crop2d
from nas.supernet.depth import ElasticDepth
from nas.supernet.depthwise import ElasticDepthwiseConv
from nas.supernet.gradient import ArchParameters, GradientConfig, GradientSearch
from nas.supernet.norm import ElasticBatchNorm2d, ElasticLayerNorm
from nas.supernet.ops import ElasticBatchNorm1d, ElasticConv1d, ElasticLinear, centre_crop
from nas.supernet.superpose import Mixture, centre_mask, prefix_mask, superpose, zero_pad

__all__ = [
    "Supernet", "seeded_build", "GradientConfig", "GradientSearch", "ArchParameters", "Mixture", "superpose", "zero_pad", "prefix_mask", "centre_mask",
    "ElasticConv1d", "ElasticConv2d", "ElasticDepthwiseConv", "ElasticLinear", "ElasticBatchNorm1d",
    "ElasticBatchNorm2d", "ElasticLayerNorm", "ElasticSelfAttention", "ElasticDepth", "centre_crop", "centre_crop2d",
]
