"""Small layers of the lesson: `Lambda`, `flatten`, `GeneralRelu`, and `conv_layer`."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .norm_names import make_norm


def flatten(x: Tensor) -> Tensor:
    """(N, C, 1, 1) -> (N, C): a named function, so that a model using it pickles."""
    return x.view(x.shape[0], -1)


class Lambda(nn.Module):
    """A module that applies `func`; give it a named function (not a lambda) to keep pickling."""

    def __init__(self, func: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.func = func

    def forward(self, x: Tensor) -> Tensor:
        return self.func(x)

    def extra_repr(self) -> str:
        return getattr(self.func, "__name__", repr(self.func))


class GeneralRelu(nn.Module):
    """y = min(leaky_relu(x, leak) - sub, maxv), each part optional (None leaves it out).

    The lesson's GeneralRelu(0.1, 0.4, 6.0) maps 0 to -0.4, which centres the activations
    nearer zero, and caps them at 6. Its lowest value for inputs near zero is its `floor`.
    """

    def __init__(
        self, leak: float | None = None, sub: float | None = None, maxv: float | None = None
    ) -> None:
        super().__init__()
        self.leak, self.sub, self.maxv = leak, sub, maxv

    @property
    def floor(self) -> float:
        """The output at x = 0, where a ReLU's dead units sit: -sub (or 0)."""
        return -(self.sub or 0.0)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(x, self.leak) if self.leak else F.relu(x)
        if self.sub is not None:
            x = x - self.sub
        if self.maxv is not None:
            x = x.clamp_max(self.maxv)
        return x

    def extra_repr(self) -> str:
        return f"leak={self.leak}, sub={self.sub}, maxv={self.maxv}"


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "general": lambda: GeneralRelu(leak=0.1, sub=0.4, maxv=6.0),
}


def make_activation(name: str) -> nn.Module:
    """An activation by its CLI name: `relu`, or `general` (the lesson's GeneralRelu(.1, .4, 6))."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]()


def conv_layer(
    ni: int, nf: int, ks: int = 3, stride: int = 2, act: str = "relu", norm: str | None = None
) -> nn.Sequential:
    """Conv2d(ni -> nf, ks, stride, padding ks//2), the activation, then the norm if any:
    (N, ni, H, W) -> (N, nf, ceil(H / stride), ceil(W / stride)).

    As in the lesson's chapter 07 the norm follows the activation, and a conv followed by a
    norm has no bias (the norm's shift replaces it).
    """
    has_norm = norm not in (None, "none")
    layers = [nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=not has_norm),
              make_activation(act)]  # fmt: skip
    if has_norm:
        assert norm is not None
        layers.append(make_norm(norm, nf))
    return nn.Sequential(*layers)
