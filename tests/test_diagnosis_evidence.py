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
    """64 steps in full, the probe's one in 4, then one in 32 (`watch_rate`): the last
    quarter of 161 steps holds two recorded steps, where a quarter of the records would
    reach back to step 57."""
    steps = np.r_[np.arange(64), np.arange(64, 96, 4), 96, 128, 160]
    t = telemetry([(spec("a"), {})], steps=len(steps))
    ev = Evidence.of(dataclasses.replace(t, steps=steps))
    assert ev.steps[ev.late()].tolist() == [128, 160]
