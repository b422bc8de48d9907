"""`MixedPrecision`: the forward pass and the loss under bf16 autocast, on CPU or GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..callback import Callback

if TYPE_CHECKING:
    from ..learner import Learner


class MixedPrecision(Callback):
    """Runs each batch's forward pass and loss under `torch.autocast` in bfloat16.

    bf16 keeps float32's exponent range, so no gradient scaler is needed; the weights and the
    optimizer stay in float32. (fp16 with a gradient scaler is not offered yet.)
    """

    order = -4  # after the batch is on its device and transformed

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        if dtype != torch.bfloat16:
            raise ValueError("MixedPrecision supports bfloat16 only for now.")
        self.dtype = dtype
        self._autocast: Any = None

    def before_batch(self, learn: Learner) -> None:
        device = next(learn.model.parameters()).device.type
        self._autocast = torch.autocast(device, dtype=self.dtype)
        self._autocast.__enter__()

    def _leave(self, learn: Learner) -> None:
        if self._autocast is not None:
            self._autocast.__exit__(None, None, None)
            self._autocast = None

    after_loss = _leave  # backward runs outside autocast, as PyTorch recommends
    after_batch = _leave  # in case the batch was cancelled before its loss
