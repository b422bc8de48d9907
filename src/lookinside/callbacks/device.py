"""`DeviceCallback`: the model and each batch on one device (cuda, then mps, then cpu)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..callback import Callback
from ..tensor_tree import tree_map

if TYPE_CHECKING:
    from ..learner import Learner


def default_device() -> torch.device:
    """The best device here: cuda if available, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or tuples, lists and dicts of them, to `device` (no-op where it is)."""
    # Asynchronous only towards a GPU, where it is safe.
    return tree_map(lambda t: t.to(device, non_blocking=device.type == "cuda"), batch)


class DeviceCallback(Callback):
    """Moves the model to `device` before the fit and each batch to it before the forward pass.

    With `device=None` it takes the loaders' device (`dls.device`, as set by
    `DataLoaders.from_tensors`), else `default_device()`. Batches already there are untouched.
    """

    order = -10
    name = "device_callback"  # `learn.device` would read as a torch.device

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device) if device is not None else None
        self.resolved = torch.device("cpu")  # where this fit runs, set by before_fit

    def before_fit(self, learn: Learner) -> None:
        self.resolved = self.device or getattr(learn.dls, "device", None) or default_device()
        learn.model.to(self.resolved)

    def before_batch(self, learn: Learner) -> None:
        learn.xb = to_device(learn.xb, self.resolved)
        learn.yb = to_device(learn.yb, self.resolved)

    def __repr__(self) -> str:
        return "DeviceCallback" if self.device is None else f"DeviceCallback({self.device})"
