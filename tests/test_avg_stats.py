"""AvgStats: batch-size-weighted averages equal a direct computation; no sync per batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import lookinside as li

from .conftest import tiny_dls, tiny_model


def test_epoch_averages_equal_a_direct_computation_with_a_short_last_batch() -> None:
    dls = tiny_dls(n_train=10, n_valid=7, bs=4, valid_bs=3)  # last batches of 2 and 1
    learn = li.Learner(tiny_model(), dls, metrics=[li.accuracy])
    learn.progress_bar.rows = False
    learn.fit(1, lr=0.0)  # frozen weights: the direct computation sees the same model
    x_valid, y_valid = dls.valid.tensors  # type: ignore[union-attr]
    x_train, y_train = dls.train.tensors  # type: ignore[attr-defined]
    with torch.no_grad():
        valid_pred, train_pred = learn.model(x_valid), learn.model(x_train)
    values = learn.avg_stats.history[0].values
    assert values["valid_loss"] == pytest.approx(
        F.cross_entropy(valid_pred, y_valid).item(), rel=1e-5
    )
    assert values["valid_accuracy"] == pytest.approx(li.accuracy(valid_pred, y_valid).item())
    assert values["train_loss"] == pytest.approx(
        F.cross_entropy(train_pred, y_train).item(), rel=1e-5
    )
    assert list(values) == ["train_loss", "valid_loss", "valid_accuracy"]


def test_train_metrics_and_metric_names() -> None:
    def top2(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (pred.topk(2).indices == y[:, None]).any(1).float().mean()

    learn = li.Learner(
        tiny_model(),
        tiny_dls(),
        metrics=[li.accuracy, top2],
        cbs=[li.AvgStats(train_metrics=True)],
        default_cbs=False,
    )
    learn.fit(2)
    stats = learn.avg_stats
    assert len(stats.history) == 2
    assert list(stats.history[1].values) == [
        "train_loss",
        "train_accuracy",
        "train_top2",
        "valid_loss",
        "valid_accuracy",
        "valid_top2",
    ]
    row = stats.history[1].row()
    assert row["epoch"] == 1 and row["seconds"] > 0


def test_metrics_may_return_python_numbers() -> None:
    learn = li.Learner(
        tiny_model(), tiny_dls(), metrics=[lambda p, y: 0.5], cbs=[li.AvgStats()], default_cbs=False
    )
    learn.fit(1)
    assert learn.avg_stats.last.values["valid_<lambda>"] == 0.5  # type: ignore[union-attr]


def test_cancelled_batches_without_a_loss_are_not_counted() -> None:
    def skip_first(learn: li.Learner) -> None:
        if learn.training and learn.iter == 0:
            raise li.CancelBatchException

    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    dls = li.DataLoaders(li.TensorLoader(x, y, bs=4))  # in order: the first batch is x[:4]
    learn = li.Learner(
        tiny_model(),
        dls,
        cbs=[li.AvgStats(), li.LambdaCallback(before_batch=skip_first)],
        default_cbs=False,
    )
    learn.fit(1, lr=0.0)
    with torch.no_grad():
        expected = F.cross_entropy(learn.model(x[4:]), y[4:]).item()
    assert learn.avg_stats.last.values["train_loss"] == pytest.approx(expected, rel=1e-5)  # type: ignore[union-attr]


SYNCS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__format__")


def test_default_callbacks_never_synchronise_inside_the_batch_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every way to read a tensor on the host is counted, with the event it happened in."""
    phase = {"in_batch": False}
    calls: list[str] = []
    for name in SYNCS:
        original = getattr(torch.Tensor, name)

        def spy(
            self: torch.Tensor, *a: object, _n: str = name, _o: object = original, **k: object
        ) -> object:
            if phase["in_batch"]:
                calls.append(_n)
            return _o(self, *a, **k)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, spy)

    def enter(learn: li.Learner) -> None:
        phase["in_batch"] = True

    def leave(learn: li.Learner) -> None:
        phase["in_batch"] = False

    tracker = [
        li.LambdaCallback(before_batch=enter, order=-100),
        li.LambdaCallback(after_batch=leave, order=100),
    ]
    learn = li.Learner(tiny_model(), tiny_dls(), metrics=[li.accuracy], cbs=tracker)
    learn.progress_bar.rows = False
    learn.fit(2)
    assert calls == []
    assert len(learn.recorder.losses) == 6  # and the values were readable afterwards
    # The spy works: a callback that reads the loss every batch is caught.
    learn.fit(1, cbs=[li.LambdaCallback(after_batch=lambda learn: learn.loss.item())])
    assert calls == ["item"] * 5


def test_notebook_table() -> None:
    stats = li.AvgStats()
    assert "no epoch yet" in stats._repr_html_()
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[stats], default_cbs=False)
    learn.fit(2)
    assert stats._repr_html_().count("<tr>") == 3
