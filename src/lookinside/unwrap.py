"""The model inside the wrappers that training puts around it, so that hooks go on its layers."""

from __future__ import annotations

from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside `DistributedDataParallel` and `torch.compile` wrappers, however
    nested (or the model itself)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):  # torch.compile's
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model
