"""BatchNorm, LayerNorm, InstanceNorm and GroupNorm, written from their definitions.

All four take inputs of shape (N, C, *spatial) with any number of spatial dims, normalise
`(x - mean) / sqrt(var + eps)` over their own axes (the biased variance, dividing by n), then
scale and shift each channel by learnable `mults` and `adds` (γ and β in the papers). They
differ only in what they average over:

| layer        | averages over            | running averages |
|--------------|--------------------------|------------------|
| BatchNorm    | (N, *spatial), per C     | yes, for eval    |
| LayerNorm    | (C, *spatial), per N     | no               |
| InstanceNorm | (*spatial), per N and C  | no               |
| GroupNorm    | (C/G, *spatial), per N, G| no               |

GroupNorm with one group is LayerNorm; with one channel per group it is InstanceNorm.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def per_channel(t: Tensor, x: Tensor) -> Tensor:
    """View a (C,) tensor as (1, C, 1, ...) to broadcast against `x` of shape (N, C, *spatial)."""
    return t.view(1, -1, *([1] * (x.ndim - 2)))


def check_channels(layer: nn.Module, x: Tensor, nf: int) -> None:
    """Raise a clear error when `x` is not (N, nf, ...): a Python check, no synchronisation."""
    if x.ndim < 2 or x.shape[1] != nf:
        raise ValueError(
            f"{type(layer).__name__}({nf}) expects inputs of shape (N, {nf}, ...), "
            f"got {tuple(x.shape)}."
        )


def moments(x: Tensor, dims: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """`(mean, x - mean, var)` over `dims` (kept), the biased variance in two passes.

    Two passes, not `torch.var_mean`: on PyTorch's CPU builds `var_mean` runs 20-100x slower
    than `mean` for these shapes, and the one-pass E[x²] - E[x]² loses digits far from zero.
    """
    mean = x.mean(dims, keepdim=True)
    centered = x - mean
    return mean, centered, (centered * centered).mean(dims, keepdim=True)


def affine(normed: Tensor, mults: Tensor, adds: Tensor) -> Tensor:
    """`normed * mults + adds`, per channel, in one multiply-add."""
    return torch.addcmul(per_channel(adds, normed), normed, per_channel(mults, normed))


def scale_shift(
    x: Tensor, mean: Tensor, var: Tensor, mults: Tensor, adds: Tensor, eps: float
) -> Tensor:
    """`(x - mean) / sqrt(var + eps) * mults + adds` as one multiply-add over `x`.

    `mean` and `var` broadcast against `x`; `mults` and `adds` are per channel.
    """
    scale = per_channel(mults, x) * (var + eps).rsqrt()
    return torch.addcmul(per_channel(adds, x) - mean * scale, x, scale)


class BatchNorm(nn.Module):
    """Batch normalisation: each channel normalised by the statistics of the current batch.

    Training uses the batch mean and biased variance, and back-propagates through them (as
    `nn.BatchNorm2d` does; the lesson's version did not). The running averages, used in eval
    mode, move by `running.lerp_(batch, mom)` (running = 0.9·running + 0.1·batch for mom 0.1);
    the running variance takes the *unbiased* batch variance, PyTorch's convention.
    """

    means: Tensor
    vars: Tensor

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.nf, self.mom, self.eps = nf, mom, eps
        self.mults = nn.Parameter(torch.ones(nf))
        self.adds = nn.Parameter(torch.zeros(nf))
        self.register_buffer("means", torch.zeros(nf))
        self.register_buffer("vars", torch.ones(nf))

    def forward(self, x: Tensor) -> Tensor:
        check_channels(self, x, self.nf)
        if not self.training:
            return scale_shift(x, per_channel(self.means, x), per_channel(self.vars, x),
                               self.mults, self.adds, self.eps)  # fmt: skip
        mean, centered, var = moments(x, [0, *range(2, x.ndim)])
        with torch.no_grad():
            n = x.numel() // self.nf
            unbiased = var.flatten() * (n / max(n - 1, 1))
            self.means.lerp_(mean.flatten().to(self.means.dtype), self.mom)
            self.vars.lerp_(unbiased.to(self.vars.dtype), self.mom)
        return affine(centered * (var + self.eps).rsqrt(), self.mults, self.adds)

    def extra_repr(self) -> str:
        return f"{self.nf}, mom={self.mom}, eps={self.eps}"


class LayerNorm(nn.Module):
    """Layer normalisation: each item normalised over all its channels and positions.

    No running averages: train and eval compute the same thing, at any batch size. The scale
    and shift are per channel (the lesson used one scalar of each), so `LayerNorm(nf)` equals
    `nn.GroupNorm(1, nf)`, and with unit scale and zero shift `F.layer_norm(x, x.shape[1:])`.
    """

    def __init__(self, nf: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.nf, self.eps = nf, eps
        self.mults = nn.Parameter(torch.ones(nf))
        self.adds = nn.Parameter(torch.zeros(nf))

    def forward(self, x: Tensor) -> Tensor:
        check_channels(self, x, self.nf)
        _, centered, var = moments(x, list(range(1, x.ndim)))
        return affine(centered * (var + self.eps).rsqrt(), self.mults, self.adds)

    def extra_repr(self) -> str:
        return f"{self.nf}, eps={self.eps}"


class InstanceNorm(nn.Module):
    """Instance normalisation: each channel of each item normalised over its positions.

    It removes each image's contrast, which suits style transfer more than classification.
    Matches `F.instance_norm` (no running averages, per-channel affine).
    """

    def __init__(self, nf: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.nf, self.eps = nf, eps
        self.mults = nn.Parameter(torch.ones(nf))
        self.adds = nn.Parameter(torch.zeros(nf))

    def forward(self, x: Tensor) -> Tensor:
        check_channels(self, x, self.nf)
        _, centered, var = moments(x, list(range(2, x.ndim)))
        return affine(centered * (var + self.eps).rsqrt(), self.mults, self.adds)

    def extra_repr(self) -> str:
        return f"{self.nf}, eps={self.eps}"


class GroupNorm(nn.Module):
    """Group normalisation: channels split into `groups`; each group of each item normalised.

    One group is LayerNorm, `nf` groups (one channel each) is InstanceNorm. Matches
    `F.group_norm`.
    """

    def __init__(self, groups: int, nf: int, eps: float = 1e-5) -> None:
        super().__init__()
        if groups < 1 or nf % groups:
            raise ValueError(f"GroupNorm: {nf} channels cannot be split into {groups} groups.")
        self.groups, self.nf, self.eps = groups, nf, eps
        self.mults = nn.Parameter(torch.ones(nf))
        self.adds = nn.Parameter(torch.zeros(nf))

    def forward(self, x: Tensor) -> Tensor:
        check_channels(self, x, self.nf)
        g = x.reshape(x.shape[0], self.groups, -1)  # (N, G, C/G · positions)
        _, centered, var = moments(g, [2])
        return affine((centered * (var + self.eps).rsqrt()).view_as(x), self.mults, self.adds)

    def extra_repr(self) -> str:
        return f"{self.groups}, {self.nf}, eps={self.eps}"
