"""`ChannelsLast`: the model's 4-d weights and each image batch in channels-last memory order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..callback import Callback

if TYPE_CHECKING:
    from ..learner import Learner


class ChannelsLast(Callback):
    """Stores conv weights and image batches (N, C, H, W) as N, H, W, C in memory.

    The shapes do not change, only the strides: cuDNN's tensor-core convolutions work in this
    order, so on a recent GPU under bf16 or fp16 it saves a transposition around every
    convolution. On a CPU, or in float32, it rarely helps: measure before keeping it.
    """

    order = -4  # after the batch is on its device and transformed (BatchTransform: -5)

    def before_fit(self, learn: Learner) -> None:
        learn.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def before_batch(self, learn: Learner) -> None:
        xb = learn.xb
        if isinstance(xb, Tensor) and xb.ndim == 4:
            learn.xb = xb.contiguous(memory_format=torch.channels_last)
