"""The Learner's contract: event order, cancellations, callbacks changing the loop's state."""

from __future__ import annotations

import functools
import io

import pytest
import torch

import lookinside as li
from lookinside import Event

from .conftest import quiet_learner, tiny_dls, tiny_model

TRAIN_BATCH = [
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "after_backward",
    "after_step",
    "after_batch",
]
VALID_BATCH = ["before_batch", "after_pred", "after_loss", "after_batch"]


def epoch_events(n_train: int = 3, n_valid: int = 2) -> list[str]:
    return (
        ["before_epoch", "before_train"]
        + TRAIN_BATCH * n_train
        + ["after_train"]
        + ["before_validate"]
        + VALID_BATCH * n_valid
        + ["after_validate", "after_epoch"]
    )


class Tracer(li.LambdaCallback):
    """Records every event as it fires, with an optional action at one (event, epoch, iter)."""

    def __init__(
        self, raise_at: tuple[str, int, int, bool] | None = None, exc: type[Exception] | None = None
    ) -> None:
        self.events: list[str] = []
        self.raise_at, self.exc = raise_at, exc
        super().__init__(**{e.value: functools.partial(self._record, e.value) for e in Event})

    def _record(self, name: str, learn: li.Learner) -> None:
        self.events.append(name)
        if self.raise_at == (name, learn.epoch, learn.iter, learn.training) and self.exc:
            raise self.exc()


def test_event_sequence_two_epochs_three_batches_with_validation() -> None:
    learn, tracer = quiet_learner(), Tracer()
    learn.fit(2, cbs=[tracer])
    assert tracer.events == ["before_fit"] + epoch_events() * 2 + ["after_fit"]


def test_event_sequence_without_validation() -> None:
    dls = tiny_dls()
    dls.valid = None
    learn, tracer = li.Learner(tiny_model(), dls, default_cbs=False), Tracer()
    learn.fit(1, cbs=[tracer])
    expected = [
        "before_fit",
        "before_epoch",
        "before_train",
        *TRAIN_BATCH * 3,
        "after_train",
        "after_epoch",
        "after_fit",
    ]
    assert tracer.events == expected


def test_cancel_batch_skips_the_rest_of_that_batch_only() -> None:
    tracer = Tracer(("after_loss", 0, 1, True), li.CancelBatchException)
    quiet_learner().fit(1, cbs=[tracer])
    cancelled = ["before_batch", "after_pred", "after_loss", "after_cancel_batch", "after_batch"]
    train = TRAIN_BATCH + cancelled + TRAIN_BATCH
    expected = [
        "before_fit",
        "before_epoch",
        "before_train",
        *train,
        "after_train",
        "before_validate",
        *VALID_BATCH * 2,
        "after_validate",
        "after_epoch",
        "after_fit",
    ]
    assert tracer.events == expected


def test_cancel_train_skips_to_validation() -> None:
    tracer = Tracer(("before_batch", 0, 1, True), li.CancelTrainException)
    quiet_learner().fit(1, cbs=[tracer])
    expected = [
        "before_fit",
        "before_epoch",
        "before_train",
        *TRAIN_BATCH,
        "before_batch",
        "after_batch",
        "after_cancel_train",
        "after_train",
        "before_validate",
        *VALID_BATCH * 2,
        "after_validate",
        "after_epoch",
        "after_fit",
    ]
    assert tracer.events == expected


def test_cancel_validate_ends_validation_but_not_the_fit() -> None:
    tracer = Tracer(("after_pred", 0, 0, False), li.CancelValidateException)
    quiet_learner().fit(2, cbs=[tracer])
    first = [
        "before_epoch",
        "before_train",
        *TRAIN_BATCH * 3,
        "after_train",
        "before_validate",
        "before_batch",
        "after_pred",
        "after_batch",
        "after_cancel_validate",
        "after_validate",
        "after_epoch",
    ]
    assert tracer.events == ["before_fit", *first, *epoch_events(), "after_fit"]


def test_cancel_epoch_moves_to_the_next_epoch() -> None:
    tracer = Tracer(("after_step", 0, 0, True), li.CancelEpochException)
    quiet_learner().fit(2, cbs=[tracer])
    first = [
        "before_epoch",
        "before_train",
        *TRAIN_BATCH,
        "after_train",
        "after_cancel_epoch",
        "after_epoch",
    ]
    assert tracer.events == ["before_fit", *first, *epoch_events(), "after_fit"]


def test_cancel_fit_stops_and_still_runs_after_fit() -> None:
    tracer = Tracer(("before_epoch", 1, 1, False), li.CancelFitException)
    learn = quiet_learner()
    learn.fit(3, cbs=[tracer])  # returns normally
    expected = [
        "before_fit",
        *epoch_events(),
        "before_epoch",
        "after_epoch",
        "after_cancel_fit",
        "after_fit",
    ]
    assert tracer.events == expected
    assert learn.epoch == 1


def test_other_exceptions_propagate_after_the_after_events() -> None:
    tracer = Tracer(("after_pred", 0, 0, True), RuntimeError)
    learn = quiet_learner()
    with pytest.raises(RuntimeError):
        learn.fit(1, cbs=[tracer])
    assert tracer.events[-4:] == ["after_batch", "after_train", "after_epoch", "after_fit"]


def test_callbacks_run_in_order_then_insertion_order() -> None:
    calls: list[str] = []
    cbs = [
        li.LambdaCallback(before_fit=lambda _, n=n: calls.append(n), order=o)
        for n, o in [("a", 5), ("b", -1), ("c", 5), ("d", 0)]
    ]
    li.Learner(tiny_model(), tiny_dls(), default_cbs=False, cbs=cbs).fit(1)
    assert calls == ["b", "d", "a", "c"]


def test_callback_changes_to_the_batch_are_used_by_the_loop() -> None:
    seen: list[torch.Tensor] = []

    class ZeroInputs(li.Callback):
        def before_batch(self, learn: li.Learner) -> None:
            learn.xb = torch.zeros_like(learn.xb)

        def after_pred(self, learn: li.Learner) -> None:
            seen.append(learn.xb)

    quiet_learner().fit(1, cbs=[ZeroInputs()])
    assert len(seen) == 5 and all(bool((x == 0).all()) for x in seen)


def test_callback_replacing_the_loss_changes_training() -> None:
    class NoLoss(li.Callback):
        def after_loss(self, learn: li.Learner) -> None:
            assert learn.loss is not None
            learn.loss = learn.loss * 0

    learn = quiet_learner()
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1, cbs=[NoLoss()])
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))


def test_callback_replacing_pred_feeds_the_loss() -> None:
    losses: list[float] = []

    class PerfectPred(li.Callback):
        def after_pred(self, learn: li.Learner) -> None:
            learn.pred = torch.nn.functional.one_hot(learn.yb, 3).float() * 100

        def after_loss(self, learn: li.Learner) -> None:
            assert learn.loss is not None
            losses.append(learn.loss.item())
            raise li.CancelBatchException  # no graph to backpropagate through

    quiet_learner().fit(1, cbs=[PerfectPred()])
    assert max(losses) < 1e-6


def test_callback_setting_the_lr_is_used_by_the_step() -> None:
    class ZeroLr(li.Callback):
        def before_batch(self, learn: li.Learner) -> None:
            learn.set_hyper("lr", 0.0)

    learn = quiet_learner()
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1, cbs=[ZeroLr()])
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))
    assert learn.recorder.lrs.max() == 0.0


def test_cancel_batch_after_backward_accumulates_gradients() -> None:
    class SkipFirstStep(li.Callback):
        def after_backward(self, learn: li.Learner) -> None:
            if learn.iter == 0:
                self.grad = next(learn.model.parameters()).grad.clone()  # type: ignore[union-attr]
                raise li.CancelBatchException

        def after_step(self, learn: li.Learner) -> None:
            raise li.CancelFitException

    cb = SkipFirstStep()
    learn = quiet_learner()
    grads: list[torch.Tensor] = []
    probe = li.LambdaCallback(
        after_backward=lambda lr: grads.append(next(lr.model.parameters()).grad.clone()), order=-1
    )
    learn.fit(1, cbs=[probe, cb])
    assert not torch.equal(grads[1], grads[0])  # the second batch's gradient added to the first


@pytest.mark.parametrize(
    "fn_factory",
    [
        pytest.param(lambda calls: lambda learn: calls.append(learn.iter), id="lambda"),
        pytest.param(
            lambda calls: functools.partial(lambda out, learn: out.append(learn.iter), calls),
            id="partial",
        ),
        pytest.param(
            lambda calls: type(
                "Obj", (), {"__call__": lambda self, learn: calls.append(learn.iter)}
            )(),
            id="callable-object",
        ),
    ],
)
def test_plain_callables_work_as_callbacks(fn_factory) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    quiet_learner().fit(1, cbs=[li.LambdaCallback(after_batch=fn_factory(calls))])
    assert calls == [0, 1, 2, 0, 1]


def test_closure_callback_with_several_events() -> None:
    def counter() -> tuple[li.LambdaCallback, dict[str, int]]:
        counts = {"batches": 0, "epochs": 0}

        def batch(learn: li.Learner) -> None:
            counts["batches"] += 1

        def epoch(learn: li.Learner) -> None:
            counts["epochs"] += 1

        return li.LambdaCallback(after_batch=batch, after_epoch=epoch), counts

    cb, counts = counter()
    quiet_learner().fit(2, cbs=[cb])
    assert counts == {"batches": 10, "epochs": 2}


def test_misspelled_event_method_raises_when_the_class_is_defined() -> None:
    with pytest.raises(ValueError, match=r"after_bacth.*did you mean 'after_batch'"):

        class Typo(li.Callback):
            def after_bacth(self, learn: li.Learner) -> None: ...


def test_misspelled_event_attribute_raises_when_the_callback_is_added() -> None:
    cb = li.Callback()
    cb.before_fitt = lambda learn: None  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="before_fitt"):
        quiet_learner().add_cbs([cb])


def test_lambda_callback_rejects_unknown_events() -> None:
    with pytest.raises(ValueError, match="after_epochs"):
        li.LambdaCallback(after_epochs=print)
    with pytest.raises(ValueError, match="not an event"):
        li.LambdaCallback(on_batch=print)


def test_non_event_attributes_named_like_events_are_allowed_if_not_callable() -> None:
    class Patience(li.Callback):
        after_n_epochs = 3

    quiet_learner().add_cbs([Patience()])


def test_non_callbacks_are_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match="LambdaCallback"):
        quiet_learner().add_cbs([print])  # type: ignore[list-item]


def test_callbacks_are_exposed_by_snake_name_and_removed_after_fit_cbs() -> None:
    class ActivationWatcher(li.Callback):
        def after_fit(self, learn: li.Learner) -> None:
            raise RuntimeError("boom")

    learn = quiet_learner()
    assert isinstance(learn.recorder, li.Recorder)
    assert isinstance(learn.train_eval, li.TrainEval)
    assert isinstance(learn.avg_stats, li.AvgStats)
    watcher = ActivationWatcher()
    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1, cbs=[watcher])
    assert watcher not in learn.cbs
    assert not hasattr(learn, "activation_watcher")


def test_callback_classes_are_instantiated_and_duplicates_numbered() -> None:
    learn = quiet_learner(cbs=[li.Recorder])
    assert isinstance(learn.recorder_2, li.Recorder)
    assert learn.find_cb(li.Recorder) is learn.recorder


def test_callback_name_clashing_with_a_learner_attribute_raises() -> None:
    class Model(li.Callback):
        pass

    with pytest.raises(ValueError, match="clashes"):
        quiet_learner(cbs=[Model()])


def test_validation_runs_without_gradients_and_in_eval_mode() -> None:
    modes: list[tuple[bool, bool, bool]] = []
    probe = li.LambdaCallback(
        after_pred=lambda learn: modes.append(
            (learn.training, learn.model.training, learn.pred.requires_grad)
        )
    )
    quiet_learner().fit(1, cbs=[probe])
    assert modes == [(True, True, True)] * 3 + [(False, False, False)] * 2


def test_describe_loop_lists_callbacks_at_their_events(capsys: pytest.CaptureFixture[str]) -> None:
    learn = quiet_learner(cbs=[li.LambdaCallback(after_step=print)])
    text = learn.describe_loop()
    assert capsys.readouterr().out == ""  # returned, not printed: a notebook shows it once
    assert repr(text) == text and text._repr_html_().startswith("<pre>")
    lines = dict(line.strip().split(": ", 1) for line in text.splitlines())
    assert lines["after_step"] == "LambdaCallback(after_step=print)"
    assert (
        lines["before_fit"]
        == "TrainEval, DeviceCallback, Distributed, AvgStats, Recorder, ProgressBar"
    )
    assert lines["after_cancel_fit"] == "-"


def test_fit_lr_sets_every_group() -> None:
    model = tiny_model()
    opt_func = functools.partial(torch.optim.SGD, momentum=0.9)
    learn = li.Learner(model, tiny_dls(), opt_func=opt_func, default_cbs=False)
    learn.fit(1, lr=0.05)
    assert learn.opt is not None
    assert [g["lr"] for g in learn.opt.param_groups] == [0.05]
    assert learn.opt.param_groups[0]["momentum"] == 0.9


def test_tuple_inputs_are_unpacked_into_the_model() -> None:
    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(5, 3)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.lin(a + b)

    split = li.LambdaCallback(before_batch=lambda learn: setattr(learn, "xb", (learn.xb, learn.xb)))
    learn = li.Learner(Two(), tiny_dls(), cbs=[split], default_cbs=False)
    learn.fit(1)
    assert isinstance(learn.xb, tuple)


@pytest.mark.parametrize(
    ("foreign", "ours"),
    [("on_batch_end", "after_batch"), ("on_train_batch_end", "after_batch"),
     ("on_epoch_end", "after_epoch"), ("on_train_begin", "before_fit")],
)  # fmt: skip
def test_another_frameworks_hook_name_raises_with_ours(foreign: str, ours: str) -> None:
    with pytest.raises(ValueError, match=f"{foreign}.*another framework.*name it '{ours}'"):
        type("Logger", (li.Callback,), {foreign: lambda self, learn: None})
    with pytest.raises(ValueError, match=f"name it '{ours}'"):
        li.LambdaCallback(**{foreign: print})


def test_fastais_argument_order_and_other_first_mistakes_are_one_sentence() -> None:
    model, dls = tiny_model(), tiny_dls()
    with pytest.raises(li.LookinsideError, match=r"model first, then the data: Learner\(model"):
        li.Learner(dls, model)  # type: ignore[arg-type]
    with pytest.raises(li.LookinsideError, match="takes a DataLoaders, not a tuple"):
        li.Learner(model, (dls.train, dls.valid))
    with pytest.raises(li.LookinsideError, match=r"class CrossEntropyLoss.*CrossEntropyLoss\(\)"):
        li.Learner(model, dls, loss_func=torch.nn.CrossEntropyLoss)  # type: ignore[arg-type]
    with pytest.raises(li.LookinsideError, match=r"must be a torch\.nn\.Module, not a function"):
        li.Learner(lambda x: x, dls)  # type: ignore[arg-type]


def test_an_error_in_the_first_batch_records_no_epoch() -> None:
    """after_epoch runs (it always does), but an error is no epoch: no row, no history."""
    out = io.StringIO()

    def fail(learn: li.Learner) -> None:
        raise RuntimeError("a bug in the first batch")

    learn = li.Learner(tiny_model(), tiny_dls(), default_cbs=False,
                       cbs=[li.AvgStats(), li.ProgressBar(file=out),
                            li.LambdaCallback(after_pred=fail)])  # fmt: skip
    with pytest.raises(RuntimeError, match="first batch"):
        learn.fit(1)
    assert learn.avg_stats.history == [] and out.getvalue() == ""


def test_a_notebook_shows_the_learner_as_a_table() -> None:
    html = quiet_learner()._repr_html_()
    assert "<table>" in html and "parameters" in html and "AvgStats" in html


class EpochCounter(li.Callback):
    """Counts the epochs of every fit, resets at before_fit, and keeps its count across a
    resume: what a stateful callback does."""

    def __init__(self) -> None:
        self.epochs, self.drawn = 0, 0.0

    def before_fit(self, learn: li.Learner) -> None:
        self.epochs = 0

    def after_epoch(self, learn: li.Learner) -> None:
        self.epochs += 1
        self.drawn = float(torch.rand(()))

    def state_dict(self) -> dict[str, int]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epochs = state["epochs"]


def test_a_resumed_fit_loads_each_callbacks_state_after_before_fit_then_the_generators() -> None:
    from lookinside.rng import RngState

    whole = quiet_learner(cbs=[EpochCounter()])
    torch.manual_seed(0)
    whole.fit(3)
    first = quiet_learner(cbs=[EpochCounter()])
    torch.manual_seed(0)
    first.fit(1)
    saved, rng = first.epoch_counter.state_dict(), RngState.capture()
    torch.manual_seed(123)  # whatever happens in between, the resume puts the stream back
    resumed = quiet_learner(cbs=[EpochCounter()])
    resumed.resume_at_fit({"epoch_counter": saved}, rng)
    resumed.fit(3, start_epoch=1)
    assert (
        resumed.epoch_counter.epochs == whole.epoch_counter.epochs == 3
    )  # before_fit did not undo it
    assert resumed.epoch_counter.drawn == whole.epoch_counter.drawn  # the same random stream
    resumed.fit(1)  # the resume is for one fit only
    assert resumed.epoch_counter.epochs == 1


def test_a_state_that_does_not_fit_its_callback_is_one_sentence_naming_its_source() -> None:
    learn = quiet_learner(cbs=[EpochCounter()])
    learn.resume_at_fit({"epoch_counter": {"steps": 3}}, source="ckpt/epoch-0001.pt")
    with pytest.raises(
        li.LookinsideError, match=r"ckpt/epoch-0001.pt does not fit the callback epoch_counter"
    ):
        learn.fit(1)


def test_callbacks_keep_no_state_unless_they_say_so() -> None:
    assert li.Callback().state_dict() == {}
    learn = quiet_learner()
    learn.fit(1)
    from lookinside.checkpoint import checkpoint_state

    kept = checkpoint_state(learn, 1)["callbacks"]
    assert set(kept) == {"avg_stats", "recorder"}  # the default callbacks that keep state


def test_the_lr_finder_leaves_a_pending_resume_to_the_real_fit() -> None:
    learn = quiet_learner(cbs=[EpochCounter()])
    learn.resume_at_fit({"epoch_counter": {"epochs": 5}})
    learn.lr_find(num_it=5)
    learn.fit(1, start_epoch=0)
    assert learn.epoch_counter.epochs == 6  # the resumed count, and this fit's epoch
