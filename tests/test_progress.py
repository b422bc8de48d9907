"""ProgressBar: a row per epoch; no bar unless the output is a terminal."""

import io

import lookinside as li
from lookinside.callbacks.progress import format_row

from .conftest import tiny_dls, tiny_model


def test_prints_a_header_and_one_row_per_epoch_without_a_bar_in_a_pipe() -> None:
    out = io.StringIO()
    learn = li.Learner(
        tiny_model(),
        tiny_dls(),
        metrics=[li.accuracy],
        default_cbs=False,
        cbs=[li.AvgStats(), li.ProgressBar(file=out)],
    )
    learn.fit(2)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"]
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]


def test_bar_is_drawn_when_asked() -> None:
    out = io.StringIO()
    learn = li.Learner(
        tiny_model(),
        tiny_dls(),
        default_cbs=False,
        cbs=[li.ProgressBar(bar=True, rows=False, file=out)],
    )
    learn.fit(1)
    assert "epoch 1/1 train" in out.getvalue() and "0/3" in out.getvalue()


def test_format_row() -> None:
    row = {"epoch": 3.0, "train_loss": 0.123456}
    assert format_row(row, header=True) == "   epoch  train_loss"
    assert format_row(row) == "       3      0.1235"
