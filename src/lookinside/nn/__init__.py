"""Layers and initialisation written for the lesson (`lookinside.nn`)."""

from .init import init_cnn
from .layers import GeneralRelu, Lambda, conv_layer, flatten, make_activation

__all__ = ["GeneralRelu", "Lambda", "conv_layer", "flatten", "init_cnn", "make_activation"]
