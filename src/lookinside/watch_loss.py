"""`FoldedLoss`: the training losses since the last recorded step, summed on the device.

With a recording rate above one step (`watch_rate`), a recorded step's loss is the mean of
its own loss and those of the unrecorded steps before it (and of every micro-batch that
recorded one), so the loss curve misses no step. A NaN loss is kept as inf (NaN means "not
recorded"), and a mean that holds one stays non-finite.
"""

from __future__ import annotations

import math

from torch import Tensor

INF = float("inf")


def kept(loss: Tensor) -> Tensor:
    """`loss` as the record keeps it: a float32 0-d tensor, NaN read as inf."""
    return loss.detach().reshape(()).float().nan_to_num(nan=INF, posinf=INF, neginf=-INF)


class FoldedLoss:
    """A running sum of losses and their count; no host read but `non_finite`."""

    def __init__(self) -> None:
        self.total: Tensor | None = None
        self.count = 0

    def add(self, loss: Tensor) -> None:
        """One kernel a step: the NaN is read as inf in `mean` (a sum holding a NaN stays
        NaN); the first is copied (a CUDA graph's loss is rewritten by its next replay)."""
        value = loss.detach().reshape(()).float()
        self.total = value.clone() if self.total is None else self.total + value
        self.count += 1

    def mean(self) -> Tensor | None:
        """The mean of the losses added since the last `clear` (inf - inf reads inf)."""
        return None if self.total is None else kept(self.total / self.count)

    def non_finite(self) -> Tensor | None:
        """The mean, when it is non-finite (one read of the device); else None."""
        mean = self.mean()
        return mean if mean is not None and not math.isfinite(float(mean)) else None

    def clear(self) -> None:
        self.total, self.count = None, 0
