"""Several processes through `torch.distributed`: `torchrun --nproc_per_node N -m lookinside train`.

Each process (rank) trains on its shard of every epoch; gradients are averaged by
`DistributedDataParallel`; the epoch's losses and metrics are summed over the ranks; only rank
0 writes files and prints. On CUDA each rank takes the GPU of its `LOCAL_RANK` (backend nccl);
on the CPU the backend is gloo.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .callback import Callback

if TYPE_CHECKING:
    from .learner import Learner


def world() -> tuple[int, int]:
    """(rank, number of processes); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup_from_env() -> bool:
    """Join the process group that `torchrun` describes in the environment, if any and if
    none is joined yet; whether this call joined it."""
    if (
        int(os.environ.get("WORLD_SIZE", "1")) <= 1
        or not dist.is_available()
        or dist.is_initialized()
    ):
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group_from_env() -> Iterator[None]:
    """Inside the block, the process group `torchrun` describes (none outside `torchrun`):
    joined on entry and left on exit, however the block ends, when the block joined it (one
    the caller had joined stays)."""
    joined = setup_from_env()
    try:
        yield
    finally:
        if joined:
            teardown()


def sum_over_ranks(t: Tensor) -> Tensor:
    """`t` summed over every rank (in place); `t` itself with a single process."""
    if world()[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        if dist.get_backend() == "gloo":
            wait_until_released(t)
    return t


def wait_until_released(t: Tensor, timeout: float = 10.0) -> None:
    """Return once no one but the caller holds `t` (or after `timeout` seconds).

    gloo's worker thread lets go of a collective's tensor a moment *after* the caller has been
    told it is done. Were that thread the last holder while the interpreter shuts down, it would
    need the GIL to free the tensor's Python object, and the process would abort (SIGABRT,
    "terminate called without an active exception") on a rank that finished first.
    """
    use_count = getattr(t, "_use_count", None)  # private in torch: looked up, not assumed
    if use_count is None:
        return
    deadline = time.monotonic() + timeout
    while use_count() > 1 and time.monotonic() < deadline:
        time.sleep(1e-4)


class Distributed(Callback):
    """Wraps the model in `DistributedDataParallel` for the fit when there are several ranks."""

    order = -8  # after DeviceCallback has put the model on its device

    def before_fit(self, learn: Learner) -> None:
        if world()[1] > 1 and not isinstance(learn.model, nn.parallel.DistributedDataParallel):
            device = next(learn.model.parameters()).device
            ids = [device.index] if device.type == "cuda" else None
            learn.model = nn.parallel.DistributedDataParallel(learn.model, device_ids=ids)

    def after_fit(self, learn: Learner) -> None:
        if isinstance(learn.model, nn.parallel.DistributedDataParallel):
            learn.model = learn.model.module
