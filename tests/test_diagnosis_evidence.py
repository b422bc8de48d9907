"""Evidence: the windows the rules share, on even and on sparser records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lookinside.diagnosis.evidence import Evidence

from .synthetic import spec, telemetry


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 40, 101])
def test_late_is_the_last_quarter_of_an_even_record(n: int) -> None:
    t = telemetry([(spec("a"), {})], steps=n)
    for every in (1, 3):
        ev = Evidence.of(dataclasses.replace(t, steps=np.arange(n) * every + 5))
        assert ev.late() == slice(n - max(1, n // 4), n)


def test_late_is_the_last_quarter_of_the_run_when_the_record_grows_sparser() -> None:
    """64 steps in full, then one in 4, then one in 8 (as `watch_rate` may record): the
    late window is the last quarter of the run's 1000 steps (31 recorded steps, not a
    quarter of the 189 records); of a run too short for that, the last 8 records (the
    details are measured at one recorded step in four), where the last quarter of its steps
    holds 2."""
    probe = np.arange(64, 128, 4)
    steps = np.r_[np.arange(64), probe, np.arange(128, 1000, 8)]
    t = telemetry([(spec("a"), {})], steps=len(steps))
    ev = Evidence.of(dataclasses.replace(t, steps=steps))
    assert ev.steps[ev.late()].tolist() == list(range(752, 1000, 8))
    short = np.r_[np.arange(64), probe, np.arange(128, 300, 64)]  # then one in 64
    t = telemetry([(spec("a"), {})], steps=len(short))
    ev = Evidence.of(dataclasses.replace(t, steps=short))
    assert ev.steps[ev.late()].tolist() == [108, 112, 116, 120, 124, 128, 192, 256]
