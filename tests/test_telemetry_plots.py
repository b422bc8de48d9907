"""The telemetry plots: what each draws, read back from the figure."""

from __future__ import annotations

import dataclasses

import numpy as np

from lookinside.telemetry import FIELD
from lookinside.telemetry_plots import plot_hist, telemetry_figures

from .synthetic import spec, telemetry


def test_the_histogram_shows_its_range_and_what_fell_outside_it() -> None:
    """Values beyond the layer's range are drawn as a red strip outside it, and the title
    says the largest share; a layer whose values all fit has neither."""
    above = np.where(np.arange(10) < 5, 0.0, 30.0)  # 30 of 100 values above, from step 5
    t = telemetry([(spec("a"), {"above": above}), (spec("b"), {})], steps=10)
    t.hist[:, :, 20] = 100 - t.values[:, :, FIELD["above"]]  # the rest inside, in one bin
    clipped = plot_hist(t, "a").axes[0]
    assert [len(clipped.collections), clipped.get_ylim()] == [2, (-7.0, 7.0 + 14 / 16)]
    assert "up to 30% above 7" in clipped.get_title()
    fits = plot_hist(t, "b").axes[0]
    assert [len(fits.collections), fits.get_ylim()] == [1, (-7.0, 7.0)]
    assert fits.get_title() == "b Linear" and "hists" in telemetry_figures(t)


def test_a_record_that_grows_sparser_keeps_its_time_axis() -> None:
    """Steps 0-3, then 8 and 16: each column spans the steps until the next measured one."""
    t = telemetry([(spec("a"), {})], steps=6)
    t = dataclasses.replace(t, steps=np.array([0, 1, 2, 3, 8, 16]))
    ax = plot_hist(t, "a").axes[0]
    columns = ax.collections[0].get_coordinates()[0, :, 0]
    assert columns.tolist() == [0, 1, 2, 3, 8, 16, 24] and ax.get_xlim() == (0.0, 24.0)
