"""`DeviceLog`: append scalars on the device every step, read them on the host once."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class DeviceLog:
    """A growing log of 0-d tensors kept where they were made.

    `append` only keeps a reference (no kernel, no host-device synchronisation); every
    `chunk` values are stacked into one float32 tensor on the device (one kernel), so at most
    `chunk` small tensors stay alive. `numpy()` moves everything to the host at once.
    """

    def __init__(self, chunk: int = 256) -> None:
        self.chunk = chunk
        self._stacked: list[Tensor] = []
        self._pending: list[Tensor] = []

    def __len__(self) -> int:
        return sum(len(s) for s in self._stacked) + len(self._pending)

    def append(self, value: Tensor) -> None:
        """Record a 0-d tensor (detached; stored as float32)."""
        self._pending.append(value.detach())
        if len(self._pending) == self.chunk:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._stacked.append(torch.stack(self._pending).float())
            self._pending = []

    def numpy(self) -> np.ndarray:
        """All values so far, as a float32 array on the host."""
        self._flush()
        if not self._stacked:
            return np.zeros(0, dtype=np.float32)
        return torch.cat(self._stacked).cpu().numpy()
