"""`DeviceLog`: append scalars on the device every step, read them on the host once."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class DeviceLog:
    """A growing log of 0-d tensors kept where they were made, in preallocated chunks.

    `append` is one device copy (no host-device synchronisation); `numpy()` moves everything
    to the host in one transfer per chunk. Memory is 4 bytes a step on the device.
    """

    def __init__(self, chunk: int = 1024) -> None:
        self.chunk = chunk
        self._chunks: list[Tensor] = []
        self._n = 0  # values in the last chunk

    def __len__(self) -> int:
        return max(len(self._chunks) - 1, 0) * self.chunk + self._n

    def append(self, value: Tensor) -> None:
        """Record a 0-d tensor (detached, stored as float32)."""
        if not self._chunks or self._n == self.chunk:
            self._chunks.append(torch.empty(self.chunk, device=value.device))
            self._n = 0
        self._chunks[-1][self._n] = value.detach()
        self._n += 1

    def numpy(self) -> np.ndarray:
        """All values so far, as a float32 array on the host."""
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        parts = [*self._chunks[:-1], self._chunks[-1][: self._n]]
        return torch.cat([p.cpu() for p in parts]).numpy()
