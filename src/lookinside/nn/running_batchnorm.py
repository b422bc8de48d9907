"""RunningBatchNorm: batch norm that normalises with running statistics in training too."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .norms import check_channels, per_channel, scale_shift


class RunningBatchNorm(nn.Module):
    """The lesson's fix for small batches: normalise with running averages, in training as well.

    Per channel it keeps running sums S ≈ Σx, Q ≈ Σx² and a running count c of the values
    seen, each updated every training batch by linear interpolation towards the batch's own
    sum, sum of squares and count:

        mom1 = 1 - (1 - mom) / sqrt(max(bs - 1, 1))   (0.1 at bs 2, 0.84 at bs 32, 0.96 at 512)
        S ← S + mom1·(Σx - S),  Q ← Q + mom1·(Σx² - Q),  c ← c + mom1·(n - c)

    so a small batch moves the statistics little and a large one a lot. Then
    mean = S / c and var = Q / c - mean², clamped to ≥ 0.01 while fewer than 20 values per
    channel have been seen. S, Q and c start at zero and move with the same weights, so
    their ratios are unbiased from the first step: this is the debiasing the lesson did with
    a separate factor (dbias ← dbias·(1 - mom1) + mom1, dividing S, Q and c), which cancels
    in the ratios. The first batch is normalised by its own mean exactly.

    Gradients flow through the current batch's share of the statistics. Unlike the lesson's
    code, it works at batch size 1 (no division by zero), and in eval mode before any training
    step it normalises with mean 0 and variance 1, like a fresh `nn.BatchNorm2d`.
    """

    sums: Tensor
    sqrs: Tensor
    count: Tensor
    seen: Tensor

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.nf, self.mom, self.eps = nf, mom, eps
        self.mults = nn.Parameter(torch.ones(nf))
        self.adds = nn.Parameter(torch.zeros(nf))
        self.register_buffer("sums", torch.zeros(nf))
        self.register_buffer("sqrs", torch.zeros(nf))
        self.register_buffer("count", torch.zeros(()))
        self.register_buffer("seen", torch.zeros(()))  # values per channel seen in training

    def forward(self, x: Tensor) -> Tensor:
        check_channels(self, x, self.nf)
        sums, sqrs, count = self.sums, self.sqrs, self.count
        if self.training:
            bs, n = x.shape[0], x.numel() // self.nf
            mom1 = 1 - (1 - self.mom) / math.sqrt(max(bs - 1, 1))
            dims = [0, *range(2, x.ndim)]
            sums = torch.lerp(self.sums, x.sum(dims).to(self.sums.dtype), mom1)
            sqrs = torch.lerp(self.sqrs, (x * x).sum(dims).to(self.sqrs.dtype), mom1)
            count = self.count + mom1 * (n - self.count)
            with torch.no_grad():
                self.sums.copy_(sums)
                self.sqrs.copy_(sqrs)
                self.count.copy_(count)
                self.seen.add_(n)
        trained = count > 0
        safe = torch.where(trained, count, torch.ones_like(count))
        mean = torch.where(trained, sums / safe, torch.zeros_like(sums))
        var = torch.where(trained, sqrs / safe - mean * mean, torch.ones_like(sqrs))
        var = torch.where(self.seen < 20, var.clamp_min(0.01), var.clamp_min(0.0))
        return scale_shift(
            x, per_channel(mean, x), per_channel(var, x), self.mults, self.adds, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.nf}, mom={self.mom}, eps={self.eps}"
