"""ActivationStats: the telemetry of a Learner's fit, and that it leaves nothing behind."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import lookinside as li
from lookinside.watch_rate import RecordingRate

from .conftest import tiny_dls
from .synthetic import spec, telemetry


def mnist_learner(dls: li.DataLoaders, **options: object) -> li.Learner:
    learn = li.Learner(li.cnn(), dls, lr=0.4, cbs=[li.ActivationStats(**options)])
    learn.progress_bar.rows = False
    return learn


def test_every_step_recorded_when_asked_and_hooks_removed_after_fit(
    mnist_subset: li.DataLoaders,
) -> None:
    learn = mnist_learner(mnist_subset, every=1)
    learn.fit(1)
    t = learn.activation_stats.telemetry
    assert t.steps.tolist() == list(range(learn.train_iter))
    # the input, the four conv blocks and the linear layer (pooling and flatten are left out)
    assert [s.name for s in t.specs] == ["input", "0", "1", "2", "3", "6"]
    assert t.hist.shape == (94, 6, 40)
    assert all(len(m._forward_hooks) == 0 for m in learn.model.modules())
    assert not learn.model._forward_pre_hooks


def test_lr_find_records_nothing(mnist_subset: li.DataLoaders) -> None:
    learn = mnist_learner(mnist_subset)
    learn.fit(1)
    before = learn.activation_stats.telemetry
    learn.lr_find(num_it=10)
    assert learn.activation_stats.telemetry is before


def test_plots_and_every(mnist_subset: li.DataLoaders) -> None:
    learn = mnist_learner(mnist_subset, every=10, detail=2)
    learn.fit(1)
    stats = learn.activation_stats
    assert stats.telemetry.steps.tolist() == list(range(0, 94, 10))
    block = stats.telemetry["0"]
    assert np.isfinite(block.grad_mean).all() and np.isfinite(block.std).all()
    measured = np.isfinite(block.near_zero)  # details at every other recorded step
    assert measured.tolist() == [True, False] * 5
    assert np.isfinite(block.grad_std).tolist() == [True, False] * 5
    for fig in (stats.plot_means_stds(), stats.plot_hists(), stats.plot_near_zero()):
        assert isinstance(fig, Figure)
    hists = stats.plot_hists()  # 5 layers (not the input) in a 4-wide grid, a colour bar each
    bars = [ax for ax in hists.axes if ax.get_ylabel() == "log(1 + count)"]
    assert len(hists.axes) - len(bars) == 8 and len(bars) == 5
    near_zero = stats.plot_near_zero()  # the legend beside the panels, off the curves
    assert near_zero.legends and not any(ax.get_legend() for ax in near_zero.axes)


def test_telemetry_before_any_fit_is_an_error() -> None:
    learn = li.Learner(li.cnn(), tiny_dls(), cbs=[li.ActivationStats()])
    with pytest.raises(RuntimeError, match="call fit first"):
        _ = learn.activation_stats.telemetry


def test_a_resumed_record_keeps_how_its_rate_was_chosen() -> None:
    """The resumed part is given the rate the first part chose, which it says nothing of;
    the joined record still says the rate was chosen ("auto"), when and at what cost."""
    first = telemetry([(spec("a"), {})], steps=4, meta={"rate": "auto", "chosen_at": 192,
                                                        "recording_cost": 0.4})  # fmt: skip
    later = telemetry([(spec("a"), {})], steps=4, meta=RecordingRate(4).facts())
    later.steps = later.steps + 4
    stats = li.ActivationStats()
    stats._prior = first
    meta = stats._joined(later).meta
    assert (meta["rate"], meta["chosen_at"], meta["recording_cost"]) == ("auto", 192, 0.4)
