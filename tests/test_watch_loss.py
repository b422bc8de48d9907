"""FoldedLoss: the losses since the last recorded step, summed on the device."""

from __future__ import annotations

import math

import torch

from lookinside.watch_loss import FoldedLoss, kept


def test_the_mean_of_what_was_added_since_the_last_clear() -> None:
    folded = FoldedLoss()
    assert folded.mean() is None and folded.non_finite() is None
    for value in (1.0, 2.0, 6.0):
        folded.add(torch.tensor(value, dtype=torch.float64, requires_grad=True))
    mean = folded.mean()
    assert mean is not None and mean.dtype == torch.float32 and float(mean) == 3.0
    assert not mean.requires_grad and folded.non_finite() is None
    folded.clear()
    assert folded.mean() is None and folded.count == 0


def test_a_non_finite_loss_is_never_averaged_away() -> None:
    """NaN is kept as inf (NaN means "not recorded"); inf and -inf together stay inf."""
    assert float(kept(torch.tensor([float("nan")]))) == math.inf
    folded = FoldedLoss()
    folded.add(torch.tensor(1.0))
    folded.add(torch.tensor(float("nan")))
    non_finite = folded.non_finite()
    assert non_finite is not None and float(non_finite) == math.inf
    folded.add(torch.tensor(-math.inf))
    assert float(folded.mean()) == math.inf  # type: ignore[arg-type]
