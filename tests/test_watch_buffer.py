"""StepBuffer and StepRows: a step's rows filed into device slots, then host blocks; layers
first seen mid-run; thinning."""

from __future__ import annotations

import numpy as np
import torch

from lookinside.telemetry import FIELD
from lookinside.watch_buffer import StepBuffer, StepRows
from lookinside.watch_stats import SUM

CPU = torch.device("cpu")


def record(rows: StepRows, layers: int, value: float) -> None:
    """Write `value` as every layer's Σx and as the loss, and count each layer."""
    for layer in range(layers):
        rows.of(layer, layers, CPU)[SUM].fill_(value)
        rows.counts[layer, 0] = 1
    rows.loss_cell(CPU).fill_(value)


def test_a_layer_first_seen_mid_run_reads_nan_before() -> None:
    buffer, rows = StepBuffer(bins=4, chunk=3, max_steps=100), StepRows(bins=4)
    for step in range(4):  # one chunk moved to the host, one slot filled on the device
        record(rows, 1, float(step))
        rows.file(buffer, step)
    record(rows, 2, 4.0)
    rows.file(buffer, 4)
    steps, values, hist, losses = buffer.arrays()
    assert steps.tolist() == [0, 1, 2, 3, 4] and hist.shape == (5, 2, 4)
    assert values[:, 0, FIELD["sum"]].tolist() == [0, 1, 2, 3, 4]
    assert np.isnan(values[:4, 1, FIELD["sum"]]).all() and values[4, 1, FIELD["sum"]] == 4
    assert np.isnan(values[:4, 1, FIELD["n"]]).all()  # not recorded: no count either
    assert losses.tolist() == [0, 1, 2, 3, 4]


def test_filing_clears_the_step() -> None:
    buffer, rows = StepBuffer(bins=4, chunk=8, max_steps=100), StepRows(bins=4)
    record(rows, 1, 7.0)
    rows.file(buffer, 0)
    assert rows.rows is not None and rows.rows.isnan().all() and not rows.counts.any()
    rows.file(buffer, 1)  # nothing recorded since: a step of NaN, uncounted
    _, values, _, _ = buffer.arrays()
    assert values[0, 0, FIELD["sum"]] == 7 and np.isnan(values[1, 0, FIELD["sum"]])


def test_thinning_halves_the_record_and_doubles_the_rate() -> None:
    buffer, rows = StepBuffer(bins=4, chunk=4, max_steps=6), StepRows(bins=4)
    for step in range(8):
        record(rows, 1, float(step))
        rows.file(buffer, step)
    steps, *_ = buffer.arrays()
    assert steps.tolist() == [0, 2, 4, 6] and buffer.rate == 2
