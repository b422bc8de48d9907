"""`BatchTransform`: apply any function to each batch's inputs before the forward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import Tensor

from ..callback import Callback

if TYPE_CHECKING:
    from ..learner import Learner


def view_tfm(*size: int) -> Callable[[Tensor], Tensor]:
    """A transform viewing each batch as `(-1, *size)`: `view_tfm(1, 28, 28)` for MNIST rows."""

    def _view(x: Tensor) -> Tensor:
        return x.view(-1, *size)

    return _view


class BatchTransform(Callback):
    """Replaces `learn.xb` with `tfm(learn.xb)` before each batch (after the device move)."""

    order = -5

    def __init__(self, tfm: Callable[[Tensor], Tensor]) -> None:
        self.tfm = tfm

    def before_batch(self, learn: Learner) -> None:
        learn.xb = self.tfm(learn.xb)

    def __repr__(self) -> str:
        return f"BatchTransform({getattr(self.tfm, '__qualname__', self.tfm)})"
