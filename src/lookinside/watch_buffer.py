"""`StepBuffer`: where `watch` files finished steps, first on the device, then on the host.

Each finished step's rows (layers, columns) and loss are copied into one slot of a
preallocated device buffer (chunk, layers, columns), which moves to the host a chunk of steps
at a time (asynchronously on CUDA): no host read in the batch loop. Host memory stays bounded:
past `max_steps` recorded steps, every other one is dropped and the watcher records at half
the rate (`rate` doubles). Layers first seen mid-run widen the buffer; earlier steps read NaN
for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .telemetry import FIELD, STAT_FIELDS
from .watch_stats import (
    DEVICE_COUNTS,
    HIST,
    Views,
    counts_start,
    identity_row,
    row_width,
    views,
)

HOST_FIELDS = STAT_FIELDS[: FIELD["sum"]]  # counts known on the host
AWAITED = -1.0  # the count of a gradient that was hooked but never came (kept as is)


class StepBuffer:
    """Filed steps: device slots, chunks in flight, host blocks."""

    def __init__(self, bins: int, chunk: int, max_steps: int) -> None:
        self.bins, self.chunk, self.max_steps = bins, chunk, max_steps
        self.layers = 0
        self._rows: Tensor | None = None  # (chunk, layers, columns) on the device
        self._losses: Tensor | None = None  # (chunk,)
        self.slot = 0
        self._pending: list[tuple[int, np.ndarray]] = []  # filled slots: step, counts
        self._inflight: list[tuple[Tensor, Tensor, Any, list[tuple[int, np.ndarray]]]] = []
        self._host: list[tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]] = []
        self.kept = 0
        self.rate = 1  # 2 ** (times the host record was thinned)

    def close(self, step: int, rows: Tensor, loss: Tensor, counts: np.ndarray) -> None:
        """File step `step`: its rows (layers, columns) and 0-d loss, copied on their device,
        and its host counts (layers, `HOST_FIELDS`)."""
        self._make_room(len(rows), rows.device)
        assert self._rows is not None and self._losses is not None
        self._rows[self.slot, : len(rows)].copy_(rows)
        self._losses[self.slot].copy_(loss)
        self._pending.append((step, counts.copy()))
        self.slot += 1
        if self.slot == self.chunk:
            self.flush()

    def _make_room(self, layers: int, device: torch.device) -> None:
        """A device buffer on `device` with room for `layers` layers (filled slots kept)."""
        if self._rows is not None and self._rows.device != device and self.slot:
            self.flush()  # the model moved: keep what was filed on the old device
        if self._rows is None or self._rows.device != device or layers > self.layers:
            wider = torch.full(
                (self.chunk, max(layers, self.layers), row_width(self.bins)),
                float("nan"),
                device=device,
            )
            if self._rows is not None and self._rows.device == device:
                wider[:, : self.layers] = self._rows
            self._rows = wider
            if self._losses is None or self._losses.device != device:
                self._losses = torch.full((self.chunk,), float("nan"), device=device)
            self.layers = max(layers, self.layers)

    def flush(self) -> None:
        """Start moving the filled slots to the host; fresh NaN slots take their place."""
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
        """Everything filed (waiting for transfers in flight): steps (S,), values
        (S, layers, fields), hist (S, layers, bins), losses (S,). A field whose count is 0
        (not measured at that step) reads NaN."""
        self.flush()
        self._land()
        rows, losses, meta = self._joined()
        host = np.zeros((len(meta), self.layers, len(HOST_FIELDS)))
        for i, (_, c) in enumerate(meta):
            host[i, : len(c)] = c
        end = counts_start(self.bins)  # the histogram ends, between its edge bins
        counts = _counts(host, rows[:, :, end:].astype(np.float64))
        edges = rows[:, :, [HIST, end - 1]].astype(np.float64)  # below and above its range
        fields = np.concatenate([rows[:, :, :HIST].astype(np.float64), edges], 2)
        hist = rows[:, :, HIST + 1 : end - 1].copy()
        n, sample, units, gn, gsample = np.moveaxis(counts, 2, 0)
        unmeasured = (
            (np.isnan(n), ("sum", "sumsq", "min", "max", "dead", "floor", "bound")),
            (np.isnan(sample), ("floor", "bound", "below", "above")),
            (np.isnan(units), ("dead",)),
            (np.isnan(gn) | (gn == AWAITED), ("gsum", "gsumsq", "gzero")),
            (np.isnan(gsample), ("gsumsq", "gzero")),
        )
        for mask, names in unmeasured:
            for name in names:
                fields[..., FIELD[name] - len(HOST_FIELDS)][mask] = np.nan
        hist[np.isnan(sample)] = np.nan
        values = np.concatenate([counts, fields], 2)
        steps = np.array([s for s, _ in meta], dtype=np.int64)
        return steps, values, hist, losses.astype(np.float64)


def _counts(host: np.ndarray, device: np.ndarray) -> np.ndarray:
    """Each step's counts (S, layers, `HOST_FIELDS`), NaN where 0: the host's, or those a
    compiled step added on the device (`DEVICE_COUNTS`), where a gradient hooked but never
    come reads `AWAITED`."""
    device = np.nan_to_num(device)
    width = len(HOST_FIELDS)
    counts = np.where(device[..., :width] != 0, device[..., :width], host)
    awaited = (device[..., DEVICE_COUNTS.index("ghooked")] > 0) & (device[..., 3] == 0)
    counts[..., 3] = np.where(awaited, AWAITED, counts[..., 3])
    return np.where(counts != 0, counts, np.nan)


def _pad(rows: np.ndarray, layers: int) -> np.ndarray:
    extra = layers - rows.shape[1]
    if extra <= 0:
        return rows
    return np.concatenate([rows, np.full((len(rows), extra, rows.shape[2]), np.nan)], 1)


class StepRows:
    """The numbers of the step in progress: one row per layer on the device (with views made
    once per layer), the loss, and the counts on the host. Filed into a `StepBuffer` when the
    step ends, then cleared."""

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.identity: Tensor | None = None  # a row at the start of a step, on the device
        self.rows: Tensor | None = None  # (layers, columns)
        self.views: list[Views] = []  # each row's (`watch_stats.views`)
        self.graded: set[int] = set()  # layers whose row holds a gradient in this step
        self.size = 0  # its layers
        self.device: torch.device | None = None  # ... and their device
        self.loss: Tensor | None = None  # 0-d
        self.counts = np.zeros((0, len(HOST_FIELDS)))

    def of(self, layer: int, layers: int, device: torch.device) -> Tensor:
        """`layer`'s row, with room made for `layers` layers on `device`."""
        self.ready(layers, device)
        assert self.rows is not None
        return self.rows[layer]

    def ready(self, layers: int, device: torch.device) -> None:
        """Room for `layers` layers on `device` (checked on the host only)."""
        if self.size < layers or self.device != device:
            self._grow(layers, device)

    def add_counts(self, layers: Sequence[int], counts: Sequence[int]) -> None:
        """Add an output's counts (values, sampled values, units) to each of `layers`."""
        np.add.at(self.counts[:, 0:3], np.asarray(layers), counts)

    def await_gradients(self, layers: int | Sequence[int]) -> None:
        """Mark each of `layers` whose gradient has not come as awaiting one (a gradient was
        asked for; none came, so far)."""
        if isinstance(layers, int):  # one layer, in its hook: scalar operations are cheaper
            if self.counts[layers, 3] == 0:
                self.counts[layers, 3] = AWAITED
            return
        index = np.asarray(layers)
        self.counts[index[self.counts[index, 3] == 0], 3] = AWAITED

    def add_gradient_counts(self, layers: int | Sequence[int], counts: Sequence[int]) -> None:
        """Add a gradient's counts (values, sampled values) to each of `layers` (noted in
        `graded`): the first that comes in the step replaces what the counts held (the mark
        of an awaited one)."""
        if isinstance(layers, int):
            row = self.counts[layers]
            if layers not in self.graded or row[3] == AWAITED:
                row[3:5] = 0
            row[3:5] += counts
            self.graded.add(layers)
            return
        index = np.asarray(layers)
        fresh = [layer for layer in layers if layer not in self.graded]
        self.counts[fresh, 3:5] = 0
        self.counts[index[self.counts[index, 3] == AWAITED], 3] = 0
        self.graded.update(layers)
        np.add.at(self.counts[:, 3:5], index, counts)

    def loss_cell(self, device: torch.device) -> Tensor:
        """The step's 0-d loss cell on `device`."""
        if self.loss is None or self.loss.device != device:
            self.loss = torch.full((), float("nan"), device=device)
        return self.loss

    def _grow(self, layers: int, device: torch.device) -> None:
        if self.identity is None or self.identity.device != device:
            self.identity = identity_row(self.bins, device)
        rows = self.identity.repeat(layers, 1)
        if self.rows is not None and self.rows.device == device:
            rows[: len(self.rows)] = self.rows
        self.rows, self.size, self.device = rows, layers, device
        self.views = [views(r, self.bins) for r in rows]
        extra = layers - len(self.counts)
        self.counts = np.concatenate([self.counts, np.zeros((extra, len(HOST_FIELDS)))])
        self.loss_cell(device)

    def take(self, other: StepRows, counts: np.ndarray) -> None:
        """Hold a copy of `other`'s rows and loss (on the device), with `counts`."""
        if other.rows is None:
            return
        self.of(0, len(other.rows), other.rows.device)
        assert self.rows is not None
        self.rows[: len(other.rows)].copy_(other.rows)
        if other.loss is not None:
            self.loss_cell(other.loss.device).copy_(other.loss)
        self.counts[: len(counts)] = counts

    def file(self, buffer: StepBuffer, step: int) -> None:
        """Copy the step into `buffer` as step `step`, then clear it for the next one."""
        if self.rows is None or self.loss is None:
            return  # nothing was recorded
        buffer.close(step, self.rows, self.loss, self.counts)
        self.clear()

    def clear(self) -> None:
        """Forget the step's numbers (rows at their identity, zero counts); the tensors stay
        where they are."""
        if self.rows is not None and self.loss is not None and self.identity is not None:
            self.rows.copy_(self.identity.expand_as(self.rows))
            self.loss.fill_(float("nan"))
        self.counts[:] = 0
        self.graded.clear()


class TracedRows:
    """The rows compiled graphs write, a ring of tensors taken in turn, one per forward. A
    graph keeps the tensor its hooks write for its backward, so nothing else may write that
    tensor until the backward is done: each forward writes a tensor of its own (a pair through
    the model before one backward included), cleared only when its turn comes back, `RING`
    forwards later. Eager records (the model's input and output, the parameter norms) go to a
    `StepRows` of their own, into which a step's traced rows are added when it is filed."""

    RING = 4

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.rows: Tensor | None = None  # what the forward in progress writes
        self.wanted = False  # a compiled forward found no rows: grow them before the next
        self._ring: list[Tensor] = []
        self._turn = 0
        self._used: list[Tensor] = []  # the open step's
        self._identity: Tensor | None = None

    def grow(self, layers: int, device: torch.device) -> None:
        """Room for `layers` layers on `device` (rows kept, new ones at their identity)."""
        self.wanted = False
        if self.rows is not None and self.rows.device == device and len(self.rows) >= layers:
            return
        self._identity = identity_row(self.bins, device)
        ring = [self._identity.repeat(layers, 1) for _ in range(self.RING)]
        for old, new in zip(self._ring, ring, strict=False):
            if old.device == device:
                new[: len(old)] = old
        place = {id(t): i for i, t in enumerate(self._ring)}
        self._used = [ring[place[id(t)]] for t in self._used if t.device == device]
        self._ring, self.rows = ring, ring[self._turn]

    def next_forward(self) -> None:
        """A training forward begins: it writes the next tensor of the ring, cleared (a new
        one where the open step still holds that one: more forwards than the ring)."""
        if not self._ring or self._identity is None:
            return  # nothing compiled
        self._turn = (self._turn + 1) % self.RING
        if any(t is self._ring[self._turn] for t in self._used):
            self._ring[self._turn] = torch.empty_like(self._ring[self._turn])
        self.rows = self._ring[self._turn]
        self.rows.copy_(self._identity.expand_as(self.rows))
        self._used.append(self.rows)

    def take(self) -> list[Tensor]:
        """The rows the step that ends wrote (read only from now on)."""
        used, self._used = self._used, []
        return used
