"""Layers and initialisation written for the lesson (`lookinside.nn`)."""

from .init import init_cnn
from .layers import GeneralRelu, Lambda, conv_layer, flatten, make_activation
from .norm_names import NORMS, make_norm
from .norms import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from .running_batchnorm import RunningBatchNorm

__all__ = [
    "NORMS",
    "BatchNorm",
    "GeneralRelu",
    "GroupNorm",
    "InstanceNorm",
    "Lambda",
    "LayerNorm",
    "RunningBatchNorm",
    "conv_layer",
    "flatten",
    "init_cnn",
    "make_activation",
    "make_norm",
]
