"""`RngState`: every random generator's state, captured and restored together."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every device's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class RngState:
    """Python's, NumPy's and torch's generator states (CPU, and every CUDA device in use)."""

    python: Any
    numpy: Any
    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor]
    torch_mps: torch.Tensor | None = None

    @classmethod
    def capture(cls) -> RngState:
        """The current state of every generator."""
        in_use = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        cuda = torch.cuda.get_rng_state_all() if in_use else []
        mps = torch.mps.get_rng_state() if torch.backends.mps.is_available() else None
        return cls(random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda, mps)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that `torch.load(weights_only=True)` accepts (no NumPy objects)."""
        name, keys, pos, has_gauss, gauss = self.numpy
        numpy_state = [str(name), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos),
                       int(has_gauss), float(gauss)]  # fmt: skip
        return {"python": self.python, "numpy": numpy_state, "torch_cpu": self.torch_cpu,
                "torch_cuda": list(self.torch_cuda), "torch_mps": self.torch_mps}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RngState:
        """The inverse of `to_dict`."""
        name, keys, pos, has_gauss, gauss = d["numpy"]
        numpy_state = (name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss)
        return cls(
            tuple(d["python"]),
            numpy_state,
            d["torch_cpu"],
            list(d["torch_cuda"]),
            d.get("torch_mps"),
        )

    def restore(self) -> None:
        """Put every generator back where `capture` found it."""
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch_cpu)
        if self.torch_cuda:
            torch.cuda.set_rng_state_all(self.torch_cuda)
        if self.torch_mps is not None and torch.backends.mps.is_available():
            torch.mps.set_rng_state(self.torch_mps)
