"""The device statistics of one output or gradient, against a direct computation."""

from __future__ import annotations

import math

import pytest
import torch

from lookinside.telemetry import FIELD, STAT_FIELDS, LayerSpec, LayerStats
from lookinside.watch_stats import (
    COL,
    HIST,
    HIST_VALUES,
    ParameterNorms,
    counts_start,
    extent,
    gradient_rows,
    histogram_into,
    histograms,
    identity_row,
    merge_rows,
    output_counts,
    output_rows,
)


def measure(x: torch.Tensor, spec: LayerSpec, sample: int | None = None) -> LayerStats:
    """`output_rows` of `x` as a one-step LayerStats."""
    row = output_rows([x], spec, sample, 40)[0]
    n, s, units = output_counts(extent(x.shape, spec.unit_dim, sample), light=False)
    values = torch.full((1, len(STAT_FIELDS)), float("nan"), dtype=torch.float64)
    values[0, FIELD["sum"] : FIELD["below"]] = row[:HIST].double()
    values[0, FIELD["below"]], values[0, FIELD["above"]] = row[HIST], row[HIST + 41]
    values[0, FIELD["n"]], values[0, FIELD["sample"]], values[0, FIELD["units"]] = n, s, units
    hist = row[HIST + 1 : HIST + 41][None].numpy()
    return LayerStats(spec, torch.zeros(1).numpy(), values.numpy(), hist)


def test_a_dead_channel_and_the_floor_of_each_channel() -> None:
    x = torch.randn(16, 3, 4, 4).relu()
    x[:, 1] = 0.0  # dead: the same value for every item
    x[:, 2] += 5.0  # floor 5, not 0
    spec = LayerSpec("c", "c", 0.0, 10.0, unit_dim=1, ndim=4)
    layer = measure(x, spec)
    assert layer.dead[0] == pytest.approx(1 / 3) and layer.field("units")[0] == 3
    floor = x <= torch.lerp(x.amin((0, 2, 3)), x.amax((0, 2, 3)), 0.01).view(1, 3, 1, 1)
    assert layer.near_zero[0] == pytest.approx(floor.float().mean().item())
    assert layer.max[0] == x.max().item() and layer.min[0] == 0.0
    assert layer.mean[0] == pytest.approx(x.mean().item(), rel=1e-6)


def test_a_nan_outside_the_sample_is_still_seen() -> None:
    x = torch.randn(64, 10)
    x[-1, 3] = float("nan")  # the last item: far from the sampled first ones
    layer = measure(x, LayerSpec("a", "a", -7, 7, ndim=2), sample=20)
    assert layer.field("sample")[0] == 20 and layer.non_finite[0]
    x[-1, 3] = -float("inf")
    assert measure(x, LayerSpec("a", "a", -7, 7, ndim=2), sample=20).non_finite[0]


def test_values_at_the_bounds_of_a_saturating_activation() -> None:
    x = torch.tensor([[-1.0, -0.995, 0.0, 0.5, 0.985, 1.0]])
    spec = LayerSpec("t", "t", -7, 7, bounds=(-1.0, 1.0), ndim=2)
    assert measure(x, spec).saturated[0] == pytest.approx(4 / 6)  # within 0.02 of ±1
    cap = LayerSpec("g", "g", -7, 7, bounds=(None, 6.0), ndim=2)
    assert measure(torch.tensor([[6.0, 5.95, 1.0, 0.0]]), cap).saturated[0] == pytest.approx(0.5)


def test_too_few_values_per_unit_say_nothing_of_dead_units() -> None:
    layer = measure(torch.zeros(4, 10), LayerSpec("a", "a", -7, 7, ndim=2))  # 4 per unit
    assert math.isnan(layer.dead[0])


def test_gradient_statistics() -> None:
    g = torch.tensor([0.0, 0.0, 3.0, -4.0])
    row = gradient_rows([g], hist_sample=2, bins=40)[0]
    assert row[COL["gsum"]] == -1.0 and row[COL["gsumsq"]] == 25.0 and row[COL["gzero"]] == 2
    light = gradient_rows([g], None, 40, details=False, counts=True)[0]
    assert light[COL["gsum"]] == -1.0 and light[counts_start(40) :].tolist() == [0, 0, 0, 4, 0, 0]


def test_the_norm_of_each_modules_parameters_together() -> None:
    rows = identity_row(40).repeat(4, 1)
    a = [torch.full((2,), 3.0), torch.full((1,), 4.0, dtype=torch.float64) * 2**0.5]
    b = [torch.full((3,), 1.0)]
    norms = ParameterNorms()
    norms.measure([(1, a), (3, b)], rows)  # float32 and float64: two kinds, added up
    assert rows[1, COL["pnorm"]].item() == pytest.approx(math.sqrt(9 + 9 + 32))
    assert rows[3, COL["pnorm"]].item() == pytest.approx(math.sqrt(3))
    assert rows[[0, 2], COL["pnorm"]].isnan().all()  # no parameters: not measured
    b[0].mul_(2)  # the same tensors, new values: the same plan
    norms.measure([(1, a), (3, b)], rows)
    assert rows[3, COL["pnorm"]].item() == pytest.approx(math.sqrt(12))
    norms.measure([(0, b)], rows)  # other owners: a new plan
    assert rows[0, COL["pnorm"]].item() == pytest.approx(math.sqrt(12))


def test_the_extent_of_an_output_is_whole_items() -> None:
    e = extent((10, 7), -1, 20)  # 2 items of 7 values sampled, 8 for the units' extremes
    assert (e.sample, e.items, e.units, e.axis) == (2, 8, 7, 1)
    assert extent((10, 7), -1, 3).sample == 1 and extent((10, 7), -1, None).sample == 10
    assert extent((5,), 0, 2) == extent((5,), 0, None)  # a 1-d output is one item
    assert extent((5,), 0, 2).shape == (1, 5) and extent((), 0, None).shape == (1, 1)
    big = extent((64, 8, 16, 16), 1, 4096)  # 2048 values an item
    assert big.sample == 2 and big.hist == 1 and big.units == 8
    assert output_counts(big, light=True) == (64 * 2048, 0, 0)
    assert output_counts(big, light=False) == (64 * 2048, 4096, 8)


def test_histograms_count_each_row_over_its_range_with_edge_bins() -> None:
    """Row by row, what `torch.histc` counts over [lo, hi), between the values below lo and
    those at or above hi (infinities included, NaN left out), in one `histc` for all rows."""
    x = torch.randn(3, 500) * 5
    x[0, :4] = torch.tensor([float("nan"), float("inf"), -float("inf"), 7.0])
    ranges = torch.tensor([[-7.0, 7.0], [0.0, 10.0], [-1.0, 2.0]])
    h = histograms(x, ranges, 40)
    for row, (lo, hi), counts in zip(x, ranges.tolist(), h, strict=True):
        inside = row[(row >= lo) & (row < hi)]
        assert torch.equal(counts[1:-1], torch.histc(inside, 40, lo, hi))
        assert counts[0] == (row < lo).sum() and counts[-1] == (row >= hi).sum()
    floor = torch.full((2, 100), -0.4)  # a GeneralRelu's floor, its dead units' value
    assert histograms(floor, torch.tensor([[-0.4, 6.0]] * 2), 40)[:, 1].tolist() == [100, 100]
    alone = torch.zeros(42)
    histogram_into(floor[0], -0.4, 6.0, alone)
    assert alone[1] == 100 and alone.sum() == 100
    histogram_into(x[1], 0.0, 10.0, alone)  # one row, its own kernels: the same counts
    assert torch.equal(alone, h[1])
    spec = LayerSpec("a", "a", -7.0, 7.0, ndim=2)
    wide = torch.randn(64, 100)  # a sample of 40 items, a histogram of 10
    row = output_rows([wide], spec, 4000, 40)[0]
    assert HIST_VALUES // 100 == 10 and row[HIST : HIST + 42].sum() == 1000


@pytest.mark.parametrize("shape", [(16, 3, 4, 4), (64, 10), (5,), ()])
def test_outputs_measured_together_equal_each_alone(shape: tuple[int, ...]) -> None:
    """The rows of several outputs measured in one call (what a forward's gathered outputs
    get) are those each gets alone (what an output measured in its hook gets)."""
    torch.manual_seed(0)
    xs = [torch.randn(shape).relu() * (i + 1) for i in range(3)]
    spec = LayerSpec("c", "c", 0.0, 10.0, unit_dim=1 if len(shape) == 4 else -1, ndim=len(shape))
    for light in (False, True):
        together = output_rows(xs, spec, 20, 40, light)
        alone = torch.cat([output_rows([x], spec, 20, 40, light) for x in xs])
        assert torch.allclose(together, alone, equal_nan=True)
    gs = [torch.randn(shape) for _ in range(3)]
    together = gradient_rows(gs, 20, 40)
    assert torch.allclose(together, torch.cat([gradient_rows([g], 20, 40) for g in gs]))


def test_a_compiled_steps_row_carries_its_counts() -> None:
    x = torch.randn(16, 3, 4, 4)
    spec = LayerSpec("c", "c", -7.0, 7.0, unit_dim=1, ndim=4)
    row = output_rows([x], spec, 20, 40, counts=True, hooked=True)[0]
    counts = output_counts(extent(x.shape, 1, 20), light=False)
    assert row[counts_start(40) :].tolist() == [*counts, 0, 0, 1]
    assert output_rows([x], spec, 20, 40)[0, counts_start(40) :].abs().sum() == 0  # eager: host's


def test_merging_rows_by_index_adds_repeats_and_keeps_the_extremes() -> None:
    rows = identity_row(40).repeat(3, 1)
    new = torch.zeros(3, rows.shape[1])
    new[:, COL["sum"]] = torch.tensor([1.0, 2.0, 4.0])
    new[:, COL["max"]] = torch.tensor([1.0, float("nan"), 9.0])
    new[:, COL["min"]] = torch.tensor([-1.0, 0.0, -5.0])
    merge_rows(rows, new, torch.tensor([0, 2, 0]))  # layer 0 twice, layer 2 once
    assert rows[:, COL["sum"]].tolist() == [5.0, 0.0, 2.0]
    assert rows[0, COL["max"]] == 9.0 and rows[2, COL["max"]].isnan()  # a NaN stays seen
    assert rows[0, COL["min"]] == -5.0 and rows[1, COL["min"]] == float("inf")
    assert rows[:, COL["pnorm"]].isnan().all()  # measured, never added


def test_merging_two_calls_adds_sums_and_keeps_the_extremes() -> None:
    a, b = torch.tensor([[1.0, -2.0], [3.0, 0.0]]), torch.tensor([[5.0, -7.0]])
    spec = LayerSpec("m", "m", -7.0, 7.0, ndim=2)
    row = identity_row(40)
    merge_rows(row, output_rows([a], spec, None, 40, counts=True)[0])
    merge_rows(row, output_rows([b], spec, None, 40, counts=True)[0])
    both = torch.cat([a, b])
    assert row[COL["sum"]] == both.sum() and row[COL["sumsq"]] == (both**2).sum()
    assert row[COL["max"]] == 5.0 and row[COL["min"]] == -7.0
    hist, counts = row[HIST : counts_start(40)], row[counts_start(40)]
    assert hist.sum() == both.numel() and counts == both.numel()
    assert hist[1] == 1 and hist[0] == hist[-1] == 0  # -7, the range's bottom: inside it
