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
    output_stats,
    parameter_norm,
    row_width,
    views,
)


def measure(x: torch.Tensor, spec: LayerSpec, sample: int | None = None) -> LayerStats:
    """`output_stats` of `x` as a one-step LayerStats."""
    row = torch.full((row_width(40),), float("nan"))
    n, s, units = output_stats(x, views(row), spec, sample)
    values = torch.full((1, len(STAT_FIELDS)), float("nan"), dtype=torch.float64)
    values[0, FIELD["sum"] :] = row[:HIST].double()
    values[0, FIELD["n"]], values[0, FIELD["sample"]], values[0, FIELD["units"]] = n, s, units
    return LayerStats(spec, torch.zeros(1).numpy(), values.numpy(), row[HIST:][None].numpy())


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
    assert gradient_stats(g, views(row), hist_sample=2) == (4, 2)
    assert row[COL["gsum"]] == -1.0 and row[COL["gsumsq"]] == 25.0 and row[COL["gzero"]] == 2
    row = torch.full((row_width(40),), float("nan"))
    assert gradient_stats(g, views(row), None, details=False) == (4, 0)
    assert row[COL["gsum"]] == -1.0 and row[COL["gsumsq"]].isnan() and row[COL["gzero"]].isnan()


def test_the_norm_of_several_parameters_together() -> None:
    out = torch.zeros(())
    parameter_norm([torch.full((2,), 3.0), torch.full((1,), 4.0) * 2**0.5], out)
    assert out.item() == pytest.approx(math.sqrt(9 + 9 + 32))


def test_first_items_keep_whole_items() -> None:
    x = torch.zeros(10, 7)
    assert first_items(x, 20).shape == (2, 7) and first_items(x, 3).shape == (1, 7)
    assert first_items(x, None) is x and first_items(torch.zeros(5), 2).shape == (5,)
