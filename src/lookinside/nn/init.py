"""Kaiming initialisation of a CNN's convolutions, as in the lesson's `init_cnn`."""

from __future__ import annotations

from torch import nn


def init_cnn(model: nn.Module, uniform: bool = False, leak: float = 0.0) -> nn.Module:
    """Kaiming-initialise every conv weight (normal, or uniform) and zero its bias.

    `leak` is the negative slope of the activation that follows (0 for ReLU, 0.1 for the
    lesson's GeneralRelu): the gain sqrt(2 / (1 + leak²)) keeps the activations' variance
    steady through the layers. Linear layers keep PyTorch's default. Returns the model.
    """
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            init(module.weight, a=leak, nonlinearity="leaky_relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
