"""`cnn`: the lesson's CNN, from a list of channel counts."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .nn import NORMS, Lambda, conv_layer, flatten, init_cnn

INITS = ("kaiming", "kaiming_uniform", "default")


def cnn(
    nfs: Sequence[int] = (8, 16, 32, 32),
    c_in: int = 1,
    n_out: int = 10,
    act: str = "relu",
    norm: str | None = None,
    init: str = "kaiming",
) -> nn.Sequential:
    """The lesson's CNN: one stride-2 conv block per entry of `nfs` (kernel 5 first, then 3),
    adaptive average pooling, flatten, and a linear layer to `n_out`.

    For MNIST and the default `nfs` the spatial sizes go 28 -> 14 -> 7 -> 4 -> 2 -> 1.
    `norm` (none, batch, layer, instance, group, running) adds that layer after each
    activation; chapter 07 of the lesson used `nfs=(8, 16, 32, 64, 64)` with it.
    `init="kaiming"` (normal) or `"kaiming_uniform"` apply `init_cnn` with the activation's
    leak; `"default"` keeps PyTorch's initialisation.
    """
    if not nfs:
        raise ValueError("nfs needs at least one channel count.")
    if norm not in (None, "none", *NORMS):
        raise ValueError(f"unknown norm {norm!r}; choose one of none, {', '.join(NORMS)}.")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}.")
    chans = [c_in, *nfs]
    blocks = [
        conv_layer(chans[i], chans[i + 1], ks=5 if i == 0 else 3, act=act, norm=norm)
        for i in range(len(nfs))
    ]  # each: (N, c, H, W) -> (N, c', ceil(H/2), ceil(W/2))
    model = nn.Sequential(
        *blocks,
        nn.AdaptiveAvgPool2d(1),  # (N, nfs[-1], 1, 1)
        Lambda(flatten),  # (N, nfs[-1])
        nn.Linear(nfs[-1], n_out),  # (N, n_out)
    )
    if init != "default":
        leak = 0.1 if act == "general" else 0.0
        init_cnn(model, uniform=init == "kaiming_uniform", leak=leak)
    return model


def fast_cnn(c_in: int = 1, n_out: int = 10) -> nn.Sequential:
    """The network of the fast MNIST recipe (`lookinside train --recipe fast`).

    Two conv blocks (conv without bias, BatchNorm, 2×2 max-pool, ReLU), then 1600 → 256 → 10:
    (N, c_in, 28, 28) -> (N, 32, 12, 12) -> (N, 64, 5, 5) -> (N, n_out). A wider take on the
    fastest published recipe (24 and 32 channels, 98.88 %), which reaches 99 % in one epoch.
    """
    return nn.Sequential(
        nn.Conv2d(c_in, 32, 5, bias=False), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 256), nn.ReLU(), nn.Linear(256, n_out),
    )  # fmt: skip
