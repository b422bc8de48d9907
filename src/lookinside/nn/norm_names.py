"""The normalisation layers by their command-line names (`--norm batch`, ...)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .norms import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from .running_batchnorm import RunningBatchNorm


def default_groups(nf: int) -> int:
    """The groups `make_norm('group', nf)` uses: the largest divisor of `nf` up to 4."""
    return max(g for g in range(1, min(nf, 4) + 1) if nf % g == 0)


NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": BatchNorm,
    "layer": LayerNorm,
    "instance": InstanceNorm,
    "group": lambda nf: GroupNorm(default_groups(nf), nf),
    "running": RunningBatchNorm,
}


def make_norm(name: str, nf: int) -> nn.Module:
    """A normalisation layer for `nf` channels by its CLI name (see `NORMS`)."""
    if name not in NORMS:
        raise ValueError(f"unknown norm {name!r}; choose one of none, {', '.join(NORMS)}.")
    return NORMS[name](nf)
