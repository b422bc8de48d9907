"""A spy on host reads: every `.item()`, `float(t)`, `bool(t)`... of a tensor dispatches
`aten._local_scalar_dense`, which a `TorchDispatchMode` can count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class HostReads(TorchDispatchMode):
    """Counts the reads of a tensor's value on the host (what `.item()` and friends dispatch)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def without_host_reads(step: Callable[[], Any]) -> Any:
    """Run `step`, failing if it read a tensor on the host."""
    with HostReads() as reads:
        out = step()
    assert reads.count == 0, f"the step read a tensor on the host {reads.count} times"
    return out
