"""The device statistics of one output or gradient, against a direct computation."""

from __future__ import annotations

import math

import pytest
import torch

from lookinside.telemetry import FIELD, STAT_FIELDS, LayerSpec, LayerStats
from lookinside.watch_stats import (
    COL,
    HIST,
    first_items,
    gradient_stats,
    identity_row,
    merge_rows,
    output_stats,
    parameter_norm,
    row_width,
    traced_gradient_row,
    traced_output_row,
    views,
)


def measure(x: torch.Tensor, spec: LayerSpec, sample: int | None = None) -> LayerStats:
    """`output_stats` of `x` as a one-step LayerStats."""
    row = torch.full((row_width(40),), float("nan"))
    n, s, units = output_stats(x, views(row, 40), spec, sample)
    values = torch.full((1, len(STAT_FIELDS)), float("nan"), dtype=torch.float64)
    values[0, FIELD["sum"] :] = row[:HIST].double()
    values[0, FIELD["n"]], values[0, FIELD["sample"]], values[0, FIELD["units"]] = n, s, units
    hist = row[HIST : HIST + 40][None].numpy()
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
    row = torch.full((row_width(40),), float("nan"))
    assert gradient_stats(g, views(row, 40), hist_sample=2) == (4, 2)
    assert row[COL["gsum"]] == -1.0 and row[COL["gsumsq"]] == 25.0 and row[COL["gzero"]] == 2
    row = torch.full((row_width(40),), float("nan"))
    assert gradient_stats(g, views(row, 40), None, details=False) == (4, 0)
    assert row[COL["gsum"]] == -1.0 and row[COL["gsumsq"]].isnan() and row[COL["gzero"]].isnan()


def test_the_norm_of_several_parameters_together() -> None:
    out = torch.zeros(())
    parameter_norm([torch.full((2,), 3.0), torch.full((1,), 4.0) * 2**0.5], out)
    assert out.item() == pytest.approx(math.sqrt(9 + 9 + 32))


def test_first_items_keep_whole_items() -> None:
    x = torch.zeros(10, 7)
    assert first_items(x, 20).shape == (2, 7) and first_items(x, 3).shape == (1, 7)
    assert first_items(x, None) is x and first_items(torch.zeros(5), 2).shape == (5,)


@pytest.mark.parametrize("shape", [(16, 3, 4, 4), (64, 10), (5,)])
def test_the_traced_row_equals_the_eager_measure(shape: tuple[int, ...]) -> None:
    """What a compiled step measures (tensor operations only) is what an eager detailed step
    writes, and its counts go into the row's device columns."""
    torch.manual_seed(0)
    x = torch.randn(shape).relu()
    spec = LayerSpec("c", "c", 0.0, 10.0, unit_dim=1 if len(shape) == 4 else -1, ndim=len(shape))
    eager = identity_row(40)
    counts = output_stats(x, views(eager, 40), spec, 20)
    traced = identity_row(40)
    merge_rows(traced, traced_output_row(x, spec, 20, 40, hooked=True))
    fields = slice(0, COL["pnorm"])
    assert torch.allclose(traced[fields], eager[fields], equal_nan=True)
    assert torch.equal(traced[HIST : HIST + 40], eager[HIST : HIST + 40])
    device_counts = traced[HIST + 40 :].tolist()
    assert device_counts == [*counts, 0, 0, 1]
    g = torch.randn(shape)
    eager_g = identity_row(40)
    g_counts = gradient_stats(g, views(eager_g, 40), 20)
    merge_rows(traced, traced_gradient_row(g, 20, 40))
    grads = slice(COL["gsum"], COL["pnorm"])
    assert torch.allclose(traced[grads], eager_g[grads])
    assert traced[HIST + 40 :].tolist()[3:5] == list(g_counts)


def test_merging_two_calls_adds_sums_and_keeps_the_extremes() -> None:
    a, b = torch.tensor([[1.0, -2.0], [3.0, 0.0]]), torch.tensor([[5.0, -7.0]])
    spec = LayerSpec("m", "m", -7.0, 7.0, ndim=2)
    row = identity_row(40)
    merge_rows(row, traced_output_row(a, spec, None, 40, hooked=False))
    merge_rows(row, traced_output_row(b, spec, None, 40, hooked=False))
    both = torch.cat([a, b])
    assert row[COL["sum"]] == both.sum() and row[COL["sumsq"]] == (both**2).sum()
    assert row[COL["max"]] == 5.0 and row[COL["min"]] == -7.0
    assert row[HIST : HIST + 40].sum() == both.numel() and row[HIST + 40] == both.numel()
