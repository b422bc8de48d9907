"""Batches for the `Learner`: `DataLoaders` and the device-resident `TensorLoader`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from .errors import LookinsideError


def len_or_none(batches: Any) -> int | None:
    """The number of batches, or None for a loader without a length (an iterable dataset's
    DataLoader has `__len__` but raises TypeError)."""
    try:
        return len(batches)
    except TypeError:
        return None


class TensorLoader:
    """Batches sliced from tensors that live on the device: no copies from the host, no workers.

    Each epoch with `shuffle=True` draws one `randperm` on the tensors' device and gathers each
    batch with it; without shuffling, batches are plain slices (views). The last short batch is
    kept unless `drop_last`.
    """

    def __init__(
        self,
        *tensors: Tensor,
        bs: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor.")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            lengths = ", ".join(str(len(t)) for t in tensors)
            raise LookinsideError(f"the tensors of a loader differ in length ({lengths}).")
        if n == 0:
            raise LookinsideError("the dataset is empty.")
        if bs < 1:
            raise LookinsideError(f"the batch size must be at least 1, not {bs}.")
        self.tensors, self.bs, self.shuffle = tensors, bs, shuffle
        self.drop_last, self.generator = drop_last, generator
        self.rank, self.world = shard
        self.n = n  # items in the whole dataset
        self.n_local = len(range(self.rank, n, self.world))  # items this rank sees

    @property
    def device(self) -> torch.device:
        """Where the tensors (and so every batch) live."""
        return self.tensors[0].device

    def __len__(self) -> int:
        return self.n_local // self.bs if self.drop_last else -(-self.n_local // self.bs)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        stop = len(self) * self.bs
        order = self._order()
        if order is None:  # in order, one process: plain slices (views)
            for i in range(0, stop, self.bs):
                yield tuple(t[i : i + self.bs] for t in self.tensors)
            return
        for i in range(0, stop, self.bs):
            idx = order[i : i + self.bs]
            yield tuple(t[idx] for t in self.tensors)

    def _order(self) -> Tensor | None:
        """This rank's item indices for the epoch: every `world`-th of one shared permutation
        (every rank draws the same one from the same seed), or None for plain slicing."""
        if self.shuffle:
            perm = torch.randperm(self.n, device=self.device, generator=self.generator)
        elif self.world > 1:
            perm = torch.arange(self.n, device=self.device)
        else:
            return None
        return perm[self.rank :: self.world] if self.world > 1 else perm

    def __repr__(self) -> str:
        return f"TensorLoader(n={self.n}, bs={self.bs}, shuffle={self.shuffle}, {self.device})"


class DataLoaders:
    """A training and a validation source of `(xb, yb)` batches: any iterables will do.

    `valid` may be None (no validation). `device` is where the batches live, when known; the
    `DeviceCallback` puts the model there.
    """

    def __init__(
        self, train: Iterable[Any], valid: Iterable[Any] | None = None, device: Any = None
    ) -> None:
        self.train, self.valid = train, valid
        self.device = device if device is not None else getattr(train, "device", None)

    @classmethod
    def from_tensors(
        cls,
        x_train: Tensor,
        y_train: Tensor,
        x_valid: Tensor | None = None,
        y_valid: Tensor | None = None,
        bs: int = 64,
        device: str | torch.device | None = None,
        valid_bs: int | None = None,
    ) -> DataLoaders:
        """Device-resident loaders: the tensors are moved to `device` once, here.

        The training loader shuffles every epoch; the validation one goes in order, with
        batches of `valid_bs` (default 2 × `bs`: no gradients to keep). Under
        `torch.distributed`, each rank gets its shard of both (`bs` is per rank).
        """
        from .distributed import world

        dev = torch.device(device) if device is not None else x_train.device
        shard = world()
        train = TensorLoader(x_train.to(dev), y_train.to(dev), bs=bs, shuffle=True, shard=shard)
        valid = None
        if x_valid is not None and y_valid is not None:
            valid = TensorLoader(
                x_valid.to(dev), y_valid.to(dev), bs=valid_bs or 2 * bs, shard=shard
            )
        return cls(train, valid, device=dev)

    def __repr__(self) -> str:
        return f"DataLoaders(train={self.train!r}, valid={self.valid!r})"
