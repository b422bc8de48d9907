"""Telemetry: derived statistics, files, joining a resumed run's record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lookinside as li
from lookinside.telemetry import FIELD, Telemetry

from .synthetic import N, spec, std, telemetry


def test_mean_std_and_a_sum_of_squares_that_overflowed() -> None:
    t = telemetry([(spec("a"), {"sum": 2 * N, "sumsq": [5 * N, np.inf]})], steps=2)
    a = t["a"]
    assert a.mean.tolist() == [2.0, 2.0] and a.std[0] == pytest.approx(1.0)
    assert np.isnan(a.std[1])  # unknown, not infinite: the values may all be finite


def test_save_load_and_a_file_of_another_format(tmp_path: Path) -> None:
    t = telemetry([(spec("a", bounds=(0.0, 1.0)), std(2.0, 5))], steps=5, losses=1.0)
    t.save(tmp_path / "t.npz")
    back = Telemetry.load(tmp_path / "t.npz")
    assert back.specs == t.specs and back.meta == t.meta
    np.testing.assert_array_equal(back.values, t.values)
    arrays = t.arrays()
    arrays["format"] = np.array(1)
    with pytest.raises(li.LookinsideError, match="another version of lookinside"):
        Telemetry.from_arrays(arrays)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(li.LookinsideError, match="not a telemetry file"):
        Telemetry.load(tmp_path / "bad.npz")


def test_fields_saved_by_another_version_are_kept_by_name() -> None:
    arrays = telemetry([(spec("a"), std(2.0, 3))], steps=3).arrays()
    arrays["fields"] = arrays["fields"][::-1]  # the same fields in another order
    arrays["values"] = arrays["values"][:, :, ::-1]
    back = Telemetry.from_arrays(arrays)
    assert back["a"].std[0] == pytest.approx(2.0)


def test_a_resumed_run_continues_the_record_and_may_add_layers() -> None:
    first = telemetry([(spec("a"), std(1.0, 3))], steps=3)
    later = telemetry([(spec("a"), std(2.0, 2)), (spec("b"), std(3.0, 2))], steps=2)
    later.steps += 3
    joined = first.then(later)
    assert joined.steps.tolist() == [0, 1, 2, 3, 4] and len(joined) == 2
    assert np.isnan(joined["b"].std[:3]).all() and joined["b"].std[3] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="different layers"):
        later.then(first)
    assert joined.values[:, 0, FIELD["n"]].tolist() == [N] * 5
    nothing = telemetry([], steps=0)  # a fit of no epoch: no layer seen, no step
    assert first.then(nothing) is first
