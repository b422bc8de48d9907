"""StepBuffer: slots on the device, blocks on the host, layers first seen mid-run, thinning."""

from __future__ import annotations

import numpy as np
import torch

from lookinside.telemetry import FIELD
from lookinside.watch_buffer import StepBuffer
from lookinside.watch_stats import COL


def fill(buffer: StepBuffer, step: int, value: float) -> None:
    """Write `value` as every layer's Σx at the open slot, count it, close it as `step`."""
    for layer in range(buffer.layers):
        buffer.row(layer, torch.device("cpu"))[COL["sum"]] = value
        buffer.counts[layer, 0] = 1
    buffer.loss(torch.device("cpu")).fill_(value)
    buffer.close(step)


def test_a_layer_first_seen_mid_run_reads_nan_before() -> None:
    buffer = StepBuffer(bins=4, chunk=3, max_steps=100)
    buffer.grow(1)
    for step in range(4):  # one chunk moved to the host, one slot open on the device
        fill(buffer, step, float(step))
    buffer.grow(2)
    fill(buffer, 4, 4.0)
    steps, values, hist, losses = buffer.arrays()
    assert steps.tolist() == [0, 1, 2, 3, 4] and hist.shape == (5, 2, 4)
    assert values[:, 0, FIELD["sum"]].tolist() == [0, 1, 2, 3, 4]
    assert np.isnan(values[:4, 1, FIELD["sum"]]).all() and values[4, 1, FIELD["sum"]] == 4
    assert np.isnan(values[:4, 1, FIELD["n"]]).all()  # not recorded: no count either
    assert losses.tolist() == [0, 1, 2, 3, 4]


def test_thinning_halves_the_record_and_doubles_the_rate() -> None:
    buffer = StepBuffer(bins=4, chunk=4, max_steps=6)
    buffer.grow(1)
    for step in range(8):
        fill(buffer, step, float(step))
    steps, *_ = buffer.arrays()
    assert steps.tolist() == [0, 2, 4, 6] and buffer.rate == 2
