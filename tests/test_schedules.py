"""Schedules: values at 0, at boundaries and at 1; combine_scheds continuity and validation."""

from __future__ import annotations

import itertools
import math
import pickle

import pytest

import lookinside as li
from lookinside.schedules import one_cycle, one_cycle_mom


@pytest.mark.parametrize(
    ("sched", "at0", "mid", "at1"),
    [
        (li.sched_no(2.0, 5.0), 2.0, 2.0, 2.0),
        (li.sched_lin(1.0, 3.0), 1.0, 2.0, 3.0),
        (li.sched_cos(1.0, 3.0), 1.0, 2.0, 3.0),
        (li.sched_exp(1.0, 100.0), 1.0, 10.0, 100.0),
    ],
)
def test_values_at_0_half_and_1(sched: li.Schedule, at0: float, mid: float, at1: float) -> None:
    assert sched(0.0) == pytest.approx(at0)
    assert sched(0.5) == pytest.approx(mid)
    assert sched(1.0) == pytest.approx(at1)


def test_cosine_is_flat_at_the_ends_and_matches_the_lesson_formula() -> None:
    s = li.sched_cos(0.2, 1.0)
    for p in (0.1, 0.3, 0.77):
        assert s(p) == pytest.approx(0.2 + (1 + math.cos(math.pi * (1 - p))) * 0.8 / 2)
    assert s(0.01) - s(0.0) < s(0.51) - s(0.5)


def test_exp_needs_positive_ends() -> None:
    with pytest.raises(ValueError, match="positive"):
        li.sched_exp(0.0, 1.0)


def test_combined_schedule_boundaries_and_continuity() -> None:
    s = li.combine_scheds([0.3, 0.7], [li.sched_cos(0.3, 0.6), li.sched_cos(0.6, 0.2)])
    assert s(0.0) == pytest.approx(0.3)
    assert s(0.3) == pytest.approx(0.6)
    assert s(1.0) == pytest.approx(0.2)
    steps = [s(i / 1000) for i in range(1001)]
    assert max(abs(a - b) for a, b in itertools.pairwise(steps)) < 0.01  # no jump
    assert s(-1.0) == s(0.0) and s(2.0) == s(1.0)  # clipped


def test_combined_schedule_skips_empty_parts() -> None:
    s = li.combine_scheds([0.5, 0.0, 0.5], [li.sched_lin(0, 1), li.sched_no(9), li.sched_lin(1, 0)])
    assert [s(p) for p in (0.0, 0.25, 0.5, 0.75, 1.0)] == pytest.approx([0, 0.5, 1, 0.5, 0])


@pytest.mark.parametrize(
    ("pcts", "message"),
    [([0.5, 0.4], "sum to 1"), ([1.2, -0.2], "non-negative"), ([1.0], "one pct per schedule")],
)
def test_combine_scheds_validation(pcts: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        li.combine_scheds(pcts, [li.sched_no(1)] * 2)


def test_one_cycle_shape_and_pickling() -> None:
    lr = one_cycle(1.0, div=25, div_final=1e4, pct_start=0.25)
    assert lr(0) == pytest.approx(0.04) and lr(0.25) == pytest.approx(1.0)
    assert lr(1) == pytest.approx(1e-4)
    mom = one_cycle_mom(0.95, 0.85, 0.25)
    assert (mom(0), mom(0.25), mom(1)) == pytest.approx((0.95, 0.85, 0.95))
    assert pickle.loads(pickle.dumps(lr))(0.6) == lr(0.6)
