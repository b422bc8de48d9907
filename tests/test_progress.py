"""ProgressBar: a row per epoch; no bar unless the output is a terminal."""

import io
import types

import pytest

import lookinside as li
from lookinside.callbacks import progress
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


def test_off_a_terminal_a_plain_line_every_few_seconds_with_the_running_loss() -> None:
    out = io.StringIO()
    learn = li.Learner(tiny_model(), tiny_dls(), metrics=[li.accuracy],
                       cbs=[li.ProgressBar(file=out, every=1e-9)], default_cbs=False)  # fmt: skip
    learn.add_cbs([li.AvgStats()])
    learn.fit(1)
    lines = out.getvalue().splitlines()
    train = [line for line in lines if line.startswith("epoch 1/1 train")]
    assert [line.split(":")[0] for line in train] == [f"epoch 1/1 train {i}/3" for i in (1, 2, 3)]
    last = float(train[-1].split("loss ")[1].split(",")[0])  # the running mean at the end
    assert last == pytest.approx(learn.avg_stats.history[-1].values["train_loss"], abs=1e-4)
    assert sum(line.startswith("epoch 1/1 valid") for line in lines) == 2


def test_the_bar_shows_the_running_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    ticks = iter(range(0, 10**6, 2))  # two seconds between batches: the loss refreshes
    clock = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    monkeypatch.setattr(progress, "time", clock)  # the progress bar's clock only
    bar = li.ProgressBar(bar=True, rows=False, file=out)
    learn = li.Learner(tiny_model(), tiny_dls(), default_cbs=False, cbs=[li.AvgStats(), bar])
    learn.fit(1)
    shown = out.getvalue()
    assert "epoch 1/1 train" in shown and ("loss 1." in shown or "loss 0." in shown)


def test_lr_find_shows_its_sweep_and_prints_no_epoch_row() -> None:
    out = io.StringIO()
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[li.ProgressBar(file=out, every=1e-9)])
    learn.progress_bar.rows = False  # the default bar (the one every learner has): silent
    learn.lr_find(num_it=6)
    lines = out.getvalue().splitlines()
    assert lines and all(line.startswith("lr_find ") for line in lines)
    assert "lr " in lines[-1] and "loss " in lines[-1]
