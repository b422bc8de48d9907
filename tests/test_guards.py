"""Guards: TerminateOnNonFinite, GradientClip, EarlyStopping."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lookinside as li
from lookinside.callbacks.guards import EarlyStopping, GradientClip, TerminateOnNonFinite
from lookinside.cli import main

from .conftest import tiny_dls, tiny_model


def poison_at(step: int) -> li.LambdaCallback:
    def poison(learn: li.Learner) -> None:
        if learn.training and learn.train_iter == step:
            learn.loss = learn.loss * float("nan")  # type: ignore[operator]

    return li.LambdaCallback(after_loss=poison)


@pytest.mark.parametrize(("every", "stops_after"), [(1, 5), (3, 6)])
def test_stops_on_a_non_finite_loss_naming_the_first_bad_step(every: int, stops_after: int) -> None:
    guard = TerminateOnNonFinite(every=every)
    learn = li.Learner(
        tiny_model(), tiny_dls(n_train=40), cbs=[poison_at(4), guard], default_cbs=False
    )
    learn.add_cbs([li.TrainEval()])
    learn.fit(3)
    assert guard.stopped_at == 4 and learn.train_iter == stops_after
    assert guard.message == "the training loss became non-finite at step 4"


def test_gradient_clip_bounds_the_global_norm() -> None:
    norms: list[float] = []

    def measure(learn: li.Learner) -> None:
        norms.append(
            float(
                torch.linalg.vector_norm(
                    torch.stack([p.grad.norm() for p in learn.model.parameters()])
                )
            )
        )

    learn = li.Learner(
        tiny_model(),
        tiny_dls(),
        lr=0.1,
        cbs=[GradientClip(1e-3), li.LambdaCallback(after_backward=measure, order=10)],
        default_cbs=False,
    )
    learn.fit(1)
    assert len(norms) == 3 and max(norms) <= 1e-3 * 1.0001
    assert repr(learn.cbs[0]) == "GradientClip(0.001)"


def test_early_stopping_after_patience_epochs_without_improvement() -> None:
    losses = iter([1.0, 0.9, 0.95, 0.96, 0.5, 0.4])

    def fake(learn: li.Learner) -> None:
        learn.avg_stats.history[-1].values["valid_loss"] = next(losses)

    stop = EarlyStopping("valid_loss", patience=2)
    learn = li.Learner(
        tiny_model(), tiny_dls(), cbs=[li.LambdaCallback(after_epoch=fake, order=41), stop]
    )
    learn.progress_bar.rows = False
    learn.fit(6)
    assert stop.stopped_epoch == 3 and len(learn.avg_stats.history) == 4
    assert EarlyStopping("valid_accuracy").mode == "max"


def test_cli_reports_a_diverged_run_with_the_step_and_the_layer(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run stopped by a non-finite loss exits 3 (not 0: it failed), its outputs written."""
    out = tmp_path / "run"
    argv = ["train", "--data", str(small_mnist), "--lr", "1000", "--bs", "16", "--out", str(out)]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "stopped early: the training loss became non-finite at step" in err
    assert "the first non-finite values: layer" in err
    assert (out / "report.html").exists()


def test_clip_flag(small_mnist: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "train",
                "--data",
                str(small_mnist),
                "--clip",
                "0.5",
                "--arch",
                "4",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    assert main(["train", "--clip", "-1"]) == 2


def test_early_stopping_on_a_name_the_fit_does_not_record_raises_with_those_it_does() -> None:
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[EarlyStopping(monitor="val_loss")])
    learn.progress_bar.rows = False
    with pytest.raises(li.LookinsideError, match=r"monitors 'val_loss'.*records: train_loss, "
                                                 r"valid_loss"):  # fmt: skip
        learn.fit(2)
    bare = li.Learner(tiny_model(), tiny_dls(), default_cbs=False, cbs=[EarlyStopping()])
    with pytest.raises(li.LookinsideError, match="AvgStats"):
        bare.fit(1)


def faked_valid_losses(losses: list[float]) -> li.LambdaCallback:
    """Sets each epoch's valid_loss from `losses`, in turn, after AvgStats has its numbers."""
    left = iter(losses)

    def fake(learn: li.Learner) -> None:
        learn.avg_stats.history[-1].values["valid_loss"] = next(left)

    return li.LambdaCallback(after_epoch=fake, order=41)


def test_early_stopping_resumed_from_a_checkpoint_stops_where_the_uncut_fit_does() -> None:
    """Its patience is in the epoch's checkpoint (it judges an epoch before Checkpoint saves
    it), and the fit ends after the epoch's every handler (the checkpoint included)."""
    from lookinside.checkpoint import checkpoint_state

    losses, saved = [1.0, 0.9, 0.95, 0.96, 0.5, 0.4], []

    def save(learn: li.Learner) -> None:  # where Checkpoint (order 90) would
        saved.append(checkpoint_state(learn, learn.epoch + 1))

    first = li.Learner(tiny_model(), tiny_dls(), cbs=[faked_valid_losses(losses),
                       EarlyStopping("valid_loss", patience=2),
                       li.LambdaCallback(after_epoch=save, order=90)])  # fmt: skip
    first.progress_bar.rows = False
    first.fit(6)
    assert first.early_stopping.stopped_epoch == 3 and len(saved) == 4  # epoch 3 saved too
    stop = EarlyStopping("valid_loss", patience=2)
    resumed = li.Learner(tiny_model(), tiny_dls(), cbs=[faked_valid_losses(losses[3:]), stop])
    resumed.progress_bar.rows = False
    resumed.resume_at_fit(saved[2]["callbacks"])  # after epoch 2: waited one epoch
    resumed.fit(6, start_epoch=3)
    assert stop.stopped_epoch == 3 and len(resumed.avg_stats.history) == 4
