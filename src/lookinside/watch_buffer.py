"""`StepBuffer`: where `watch` keeps recorded steps, first on the device, then on the host.

The hooks write each step's numbers into one slot of a preallocated device buffer (chunk,
layers, columns), which moves to the host a chunk of steps at a time (asynchronously on
CUDA): no host read in the batch loop. Host memory stays bounded: past `max_steps` recorded
steps, every other one is dropped and the watcher records at half the rate. Layers first seen
mid-run widen the buffer; earlier steps read NaN for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .telemetry import FIELD, STAT_FIELDS
from .watch_stats import HIST, row_width

HOST_FIELDS = STAT_FIELDS[: FIELD["sum"]]  # counts known on the host


class StepBuffer:
    """Recorded steps: device slots being filled, chunks in flight, host blocks."""

    def __init__(self, bins: int, chunk: int, max_steps: int) -> None:
        self.bins, self.chunk, self.max_steps = bins, chunk, max_steps
        self.layers = 0
        self._rows: Tensor | None = None  # (chunk, layers, columns) on the device
        self._losses: Tensor | None = None  # (chunk,)
        self.slot = 0
        self.counts = np.zeros((0, len(HOST_FIELDS)))  # the open slot's counts, per layer
        self._pending: list[tuple[int, np.ndarray]] = []  # closed slots: step, counts
        self._inflight: list[tuple[Tensor, Tensor, Any, list[tuple[int, np.ndarray]]]] = []
        self._host: list[tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]] = []
        self.kept = 0
        self.rate = 1  # 2 ** (times the host record was thinned)

    def grow(self, layers: int) -> None:
        """Make room for `layers` layers (existing slots keep their numbers)."""
        if layers <= self.layers:
            return
        extra = layers - self.layers
        self.counts = np.concatenate([self.counts, np.zeros((extra, len(HOST_FIELDS)))])
        if self._rows is not None:
            wider = torch.full(
                (self.chunk, layers, row_width(self.bins)), float("nan"), device=self._rows.device
            )
            wider[:, : self.layers] = self._rows
            self._rows = wider
        self.layers = layers

    def row(self, layer: int, device: torch.device) -> Tensor:
        """The open slot's row for `layer`, on `device` (allocated at first use)."""
        if self._rows is None or self._rows.device != device:
            self._allocate(device)
        assert self._rows is not None
        return self._rows[self.slot, layer]

    def slot_rows(self, device: torch.device) -> Tensor:
        """The open slot's rows, (layers, columns), on `device`."""
        self.row(0, device)
        assert self._rows is not None
        return self._rows[self.slot]

    def loss(self, device: torch.device) -> Tensor:
        """The open slot's 0-d loss cell."""
        if self._losses is None or self._losses.device != device:
            self._allocate(device)
        assert self._losses is not None
        return self._losses[self.slot]

    def _allocate(self, device: torch.device) -> None:
        if self._rows is not None and self.slot:
            self.flush()  # the model moved: keep what was written on the old device
        self._rows = torch.full(
            (self.chunk, self.layers, row_width(self.bins)), float("nan"), device=device
        )
        self._losses = torch.full((self.chunk,), float("nan"), device=device)

    def close(self, step: int) -> None:
        """The open slot holds step `step`: file its counts, move on (flushing when full)."""
        self._pending.append((step, self.counts.copy()))
        self.counts[:] = 0
        self.slot += 1
        if self.slot == self.chunk:
            self.flush()

    def flush(self) -> None:
        """Start moving the closed slots to the host; fresh NaN slots take their place."""
        if self._rows is None or self._losses is None or self.slot == 0:
            return
        rows, losses = self._rows[: self.slot], self._losses[: self.slot]
        if rows.is_cuda:
            host_rows = torch.empty(rows.shape, pin_memory=True)
            host_losses = torch.empty(losses.shape, pin_memory=True)
            host_rows.copy_(rows, non_blocking=True)
            host_losses.copy_(losses, non_blocking=True)
            event = torch.cuda.Event()  # type: ignore[no-untyped-call]
            event.record(torch.cuda.current_stream(rows.device))
            self._inflight.append((host_rows, host_losses, event, self._pending))
            self._rows = self._losses = None  # the copy reads the old buffers: allocate anew
        else:
            self._inflight.append((rows.clone(), losses.clone(), None, self._pending))
            self._rows.fill_(float("nan"))
            self._losses.fill_(float("nan"))
        self._pending, self.slot = [], 0
        self._land(keep_last=rows.is_cuda)

    def _land(self, keep_last: bool = False) -> None:
        """Take finished transfers into host storage (the newest may stay in flight)."""
        ready = self._inflight[:-1] if keep_last else self._inflight
        for rows, losses, event, meta in ready:
            if event is not None:
                event.synchronize()  # a chunk ago: long finished
            self._host.append((rows.numpy(), losses.numpy(), meta))
            self.kept += len(meta)
        self._inflight = self._inflight[len(ready) :]
        if self.kept > self.max_steps:
            self._thin()

    def _thin(self) -> None:
        rows, losses, meta = self._joined()
        self._host = [(rows[::2], losses[::2], meta[::2])]
        self.kept = len(self._host[0][2])
        self.rate *= 2

    def _joined(self) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
        width = row_width(self.bins)
        blocks = [_pad(rows, self.layers) for rows, _, _ in self._host]
        rows = np.concatenate(blocks) if blocks else np.zeros((0, self.layers, width))
        losses = np.concatenate([x for _, x, _ in self._host]) if self._host else np.zeros(0)
        meta = [m for _, _, block in self._host for m in block]
        return rows, losses, meta

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Everything recorded (waiting for transfers in flight): steps (S,), values
        (S, layers, fields), hist (S, layers, bins), losses (S,)."""
        self.flush()
        self._land()
        rows, losses, meta = self._joined()
        counts = np.full((len(meta), self.layers, len(HOST_FIELDS)), np.nan)
        for i, (_, c) in enumerate(meta):
            counts[i, : len(c)] = np.where(c > 0, c, np.nan)
        values = np.concatenate([counts, rows[:, :, :HIST].astype(np.float64)], 2)
        steps = np.array([s for s, _ in meta], dtype=np.int64)
        return steps, values, rows[:, :, HIST:], losses.astype(np.float64)


def _pad(rows: np.ndarray, layers: int) -> np.ndarray:
    extra = layers - rows.shape[1]
    if extra <= 0:
        return rows
    return np.concatenate([rows, np.full((len(rows), extra, rows.shape[2]), np.nan)], 1)
