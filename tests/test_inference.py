"""A trained learner's helpers: predictions over a loader and for one input, through the
callbacks that shape batches and none that record; the validation numbers; weights saved and
loaded safely."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch

import lookinside as li

from .conftest import tiny_dls, tiny_model


def trained(**kwargs: object) -> li.Learner:
    out = io.StringIO()
    learn = li.Learner(tiny_model(), tiny_dls(), metrics=[li.accuracy], **kwargs)  # type: ignore[arg-type]
    learn.progress_bar.file = out
    learn.fit(2)
    return learn


def test_predictions_over_the_validation_data_record_nothing() -> None:
    learn = trained()
    history, lrs = list(learn.avg_stats.history), list(learn.recorder.lrs)
    state = (learn.epoch, learn.iter, learn.train_iter, learn.model.training)
    preds, targets = learn.get_preds()
    xv = torch.cat([x for x, _ in learn.dls.valid])
    learn.model.eval()
    with torch.no_grad():
        assert torch.allclose(preds, learn.model(xv))
    assert torch.equal(targets, torch.cat([y for _, y in learn.dls.valid]))
    assert learn.avg_stats.history == history and list(learn.recorder.lrs) == lrs
    assert (learn.epoch, learn.iter, learn.train_iter, learn.model.training) == state


def test_validate_gives_the_last_epochs_validation_numbers() -> None:
    learn = trained()
    got, last = learn.validate(), learn.avg_stats.history[-1].values
    assert set(got) == {"valid_loss", "valid_accuracy"}
    assert got["valid_loss"] == pytest.approx(last["valid_loss"], rel=1e-5)
    assert got["valid_accuracy"] == pytest.approx(last["valid_accuracy"])


def test_one_input_goes_through_the_batch_transform_and_comes_back_without_its_batch_axis() -> None:
    learn = trained(cbs=[li.BatchTransform(lambda x: x * 0)])  # every input becomes zeros
    x = torch.randn(5)
    one = learn.predict(x)
    learn.model.eval()
    with torch.no_grad():
        assert one.shape == (3,) and torch.allclose(one, learn.model(torch.zeros(1, 5))[0])
    assert learn.predict(torch.randn(4, 5), batch=True).shape == (4, 3)


def test_a_learner_without_validation_data_asks_for_a_loader() -> None:
    dls = tiny_dls()
    learn = li.Learner(tiny_model(), li.DataLoaders(dls.train))
    with pytest.raises(li.LookinsideError, match="no validation data"):
        learn.get_preds()
    preds, _ = learn.get_preds(dls.train)
    assert preds.shape == (12, 3)


def test_weights_saved_and_loaded_give_the_same_predictions(tmp_path: Path) -> None:
    learn = trained()
    path = learn.save(tmp_path / "model.pt", with_opt=True)
    fresh = li.Learner(tiny_model(), learn.dls)
    assert not torch.allclose(fresh.get_preds()[0], learn.get_preds()[0])
    fresh.load(path, with_opt=True)
    assert torch.allclose(fresh.get_preds()[0], learn.get_preds()[0])
    assert fresh.opt is not None and len(fresh.opt.state) == len(learn.opt.state)  # type: ignore[union-attr]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_what_cannot_be_loaded_is_one_sentence(tmp_path: Path) -> None:
    learn = trained()
    with pytest.raises(li.LookinsideError, match="does not exist"):
        learn.load(tmp_path / "missing.pt")
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(print))  # code, not tensors: weights_only refuses it
    with pytest.raises(li.LookinsideError, match="not a lookinside weights file"):
        learn.load(evil)
    other = li.Learner(torch.nn.Sequential(torch.nn.Linear(5, 2)), learn.dls)
    path = other.save(tmp_path / "other.pt")
    with pytest.raises(li.LookinsideError, match="weights of another model"):
        learn.load(path)
    with pytest.raises(li.LookinsideError, match="no optimizer state"):
        learn.load(learn.save(tmp_path / "weights.pt"), with_opt=True)


def test_save_best_keeps_the_best_epochs_weights(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    learn = trained(cbs=[li.SaveBest(path, monitor="valid_accuracy")], lr=1.0)
    accuracies = [e.values["valid_accuracy"] for e in learn.avg_stats.history]
    best = learn.save_best.best_epoch
    assert best == accuracies.index(max(accuracies))  # the first epoch that reached the best
    learn.load(path)
    assert learn.validate()["valid_accuracy"] == pytest.approx(max(accuracies))
    with pytest.raises(li.LookinsideError, match=r"SaveBest monitors 'acc'.*records: train_loss"):
        trained(cbs=[li.SaveBest(path, monitor="acc")])


def test_predictions_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    learn = li.Learner(tiny_model(), tiny_dls())  # the default progress bar, on stdout
    learn.get_preds()
    learn.predict(torch.randn(5))
    assert capsys.readouterr().out == ""


def test_save_best_keeps_its_best_across_a_resume(tmp_path: Path) -> None:
    """Its best is in each checkpoint (it runs before Checkpoint saves the epoch): a resumed
    fit overwrites the best file only with a better epoch."""
    from lookinside.checkpoint import checkpoint_state

    path = tmp_path / "best.pt"
    learn = trained(cbs=[li.SaveBest(path, monitor="valid_accuracy")], lr=1.0)
    state = checkpoint_state(learn, len(learn.avg_stats.history))["callbacks"]["save_best"]
    assert state == {"best": learn.save_best.monitored.best,
                     "best_epoch": learn.save_best.best_epoch}  # fmt: skip
    keeper = li.SaveBest(path, monitor="valid_accuracy")
    resumed = li.Learner(tiny_model(), tiny_dls(), metrics=[li.accuracy], cbs=[keeper])
    resumed.progress_bar.rows = False
    resumed.resume_at_fit({"save_best": {**state, "best": 2.0}})  # a best no epoch beats
    before = path.stat().st_mtime_ns
    resumed.fit(1)
    assert keeper.best_epoch == state["best_epoch"] and path.stat().st_mtime_ns == before
