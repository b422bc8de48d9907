"""The closed set of events the training loop fires, in the order one epoch fires them.

A cancellation is caught by the phase it names, so raise it from that phase or one inside it:
`CancelBatchException` from the batch events, `CancelTrainException` from `before_train` or
a training batch, `CancelEpochException` from anywhere in the epoch up to `after_validate`,
`CancelFitException` from anywhere. Raised from the phase's own `after_*` event (which runs
in a `finally`, after the catching `except`), it travels out to the next phase that catches
it: `CancelFitException` from `after_epoch` still ends the fit cleanly, but a
`CancelBatchException` from `after_batch` leaves `fit`.
"""

from __future__ import annotations

from enum import Enum


class Event(str, Enum):
    """A point in the training loop where callbacks run.

    The members are listed in the order one epoch fires them; the validation phase repeats
    the batch events without `before_backward`, `after_backward` and `after_step`. Each
    `after_cancel_*` event fires when the matching cancellation is raised, just before the
    matching `after_*` event (which always runs, from a `finally`).
    """

    before_fit = "before_fit"
    before_epoch = "before_epoch"
    before_train = "before_train"
    before_batch = "before_batch"
    after_pred = "after_pred"
    after_loss = "after_loss"
    before_backward = "before_backward"
    after_backward = "after_backward"
    after_step = "after_step"
    after_batch = "after_batch"
    after_train = "after_train"
    before_validate = "before_validate"
    after_validate = "after_validate"
    after_epoch = "after_epoch"
    after_fit = "after_fit"
    after_cancel_batch = "after_cancel_batch"
    after_cancel_train = "after_cancel_train"
    after_cancel_validate = "after_cancel_validate"
    after_cancel_epoch = "after_cancel_epoch"
    after_cancel_fit = "after_cancel_fit"


EVENT_NAMES: frozenset[str] = frozenset(e.value for e in Event)

# Other frameworks' names for the events (fastai v1, Keras, Lightning, Hugging Face): a callback
# method named so would never be called here.
FOREIGN_EVENTS: dict[str, Event] = {
    "on_train_begin": Event.before_fit, "on_train_start": Event.before_fit,
    "on_fit_start": Event.before_fit, "on_train_end": Event.after_fit,
    "on_fit_end": Event.after_fit, "on_epoch_begin": Event.before_epoch,
    "on_epoch_start": Event.before_epoch, "on_train_epoch_start": Event.before_epoch,
    "on_epoch_end": Event.after_epoch, "on_train_epoch_end": Event.after_epoch,
    "on_batch_begin": Event.before_batch, "on_batch_start": Event.before_batch,
    "on_train_batch_begin": Event.before_batch, "on_train_batch_start": Event.before_batch,
    "on_step_begin": Event.before_batch, "on_batch_end": Event.after_batch,
    "on_train_batch_end": Event.after_batch, "on_step_end": Event.after_step,
    "on_loss_begin": Event.after_pred, "on_backward_begin": Event.after_loss,
    "on_before_backward": Event.before_backward, "on_backward_end": Event.after_backward,
    "on_after_backward": Event.after_backward, "on_before_optimizer_step": Event.after_backward,
    "on_validation_start": Event.before_validate,
    "on_validation_epoch_start": Event.before_validate, "on_test_begin": Event.before_validate,
    "on_validation_end": Event.after_validate, "on_validation_epoch_end": Event.after_validate,
    "on_evaluate": Event.after_validate, "on_test_end": Event.after_validate,
}  # fmt: skip


def looks_like_event(name: str) -> bool:
    """True for names a handler of an event would have: `before_*` or `after_*`."""
    return name.startswith(("before_", "after_"))


class CancelBatchException(Exception):  # noqa: N818 (the lesson's names, kept for its readers)
    """Skip the rest of this batch; `after_cancel_batch`, then `after_batch`, then the next batch.

    Raised after `after_backward`, it also skips the optimizer step and the zeroing of the
    gradients, which therefore accumulate into the next batch.
    """


class CancelTrainException(Exception):  # noqa: N818
    """Skip the rest of this epoch's training phase; `after_cancel_train`, `after_train`,
    then validation runs as usual."""


class CancelValidateException(Exception):  # noqa: N818
    """Skip the rest of this epoch's validation; `after_cancel_validate`, then `after_validate`."""


class CancelEpochException(Exception):  # noqa: N818
    """Skip the rest of this epoch; `after_cancel_epoch`, `after_epoch`, then the next epoch."""


class CancelFitException(Exception):  # noqa: N818
    """Stop training; `after_cancel_fit`, then `after_fit`, then `fit` returns normally."""
