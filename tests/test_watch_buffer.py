"""StepBuffer and StepRows: a step's rows filed into device slots, then host blocks; layers
first seen mid-run; thinning."""

from __future__ import annotations

import numpy as np
import torch

from lookinside.telemetry import FIELD
from lookinside.watch_buffer import StepBuffer, StepRows
from lookinside.watch_stats import DEVICE_COUNTS, SUM, counts_start, merge_rows, row_width

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
    assert rows.rows is not None and rows.identity is not None and not rows.counts.any()
    assert torch.equal(rows.rows.nan_to_num(), rows.identity.nan_to_num().expand_as(rows.rows))
    rows.file(buffer, 1)  # nothing recorded since: uncounted, so read as NaN
    _, values, _, _ = buffer.arrays()
    assert values[0, 0, FIELD["sum"]] == 7 and np.isnan(values[1, 0, FIELD["sum"]])


def test_thinning_halves_the_record_and_doubles_the_rate() -> None:
    buffer, rows = StepBuffer(bins=4, chunk=4, max_steps=6), StepRows(bins=4)
    for step in range(8):
        record(rows, 1, float(step))
        rows.file(buffer, step)
    steps, *_ = buffer.arrays()
    assert steps.tolist() == [0, 2, 4, 6] and buffer.rate == 2


def test_a_compiled_steps_counts_come_from_the_device() -> None:
    """A compiled step adds its counts into the row's last columns; a gradient hooked but
    never come reads as awaited (-1), a field whose count is 0 as NaN."""
    buffer, rows = StepBuffer(bins=4, chunk=8, max_steps=100), StepRows(bins=4)
    rows.of(0, 2, CPU)
    assert rows.rows is not None
    counts = counts_start(4)
    new = torch.zeros(row_width(4))
    new[SUM], new[counts : counts + len(DEVICE_COUNTS)] = 5.0, torch.tensor([10, 0, 0, 0, 0, 1])
    merge_rows(rows.rows[0], new)
    merge_rows(rows.rows[0], new)  # the module's second call in the step
    rows.loss_cell(CPU).fill_(1.0)
    rows.file(buffer, 0)
    _, values, hist, _ = buffer.arrays()
    assert values[0, 0, FIELD["n"]] == 20 and values[0, 0, FIELD["sum"]] == 10
    assert values[0, 0, FIELD["gn"]] == -1 and np.isnan(values[0, 0, FIELD["gsum"]])
    assert np.isnan(values[0, 0, FIELD["dead"]]) and np.isnan(hist[0, 0]).all()  # no sample
    assert np.isnan(values[0, 1, FIELD["n"]]) and np.isnan(values[0, 1, FIELD["max"]])
