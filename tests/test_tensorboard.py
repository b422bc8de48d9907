"""TensorBoardCallback: what it writes, read back from the event files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import lookinside as li

from .conftest import tiny_dls, tiny_model


def test_scalars_and_activation_histograms_are_in_the_event_files(tmp_path: Path) -> None:
    cbs = [li.ActivationStats(), li.TensorBoardCallback(tmp_path / "tb")]
    learn = li.Learner(tiny_model(), tiny_dls(), metrics=[li.accuracy], cbs=cbs)
    learn.progress_bar.rows = False
    learn.fit(2)
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == list(range(6))
    assert [e.value for e in losses] == pytest.approx(learn.recorder.losses.tolist(), rel=1e-6)
    accuracy = events.Scalars("epoch/valid_accuracy")
    assert [e.value for e in accuracy] == pytest.approx(
        [h.values["valid_accuracy"] for h in learn.avg_stats.history]
    )
    assert "train/lr_0" in tags["scalars"] and "activations_near_zero/1" in tags["scalars"]
    assert len(events.Scalars("activations_std/0")) == 6
    hist = events.Histograms("activations/1")
    assert [h.step for h in hist] == [0, 4]  # each epoch's last step with details (every 4th)
    assert hist[-1].histogram_value.num == pytest.approx(
        float(learn.activation_stats.telemetry["1"].hist[4].sum())
    )
