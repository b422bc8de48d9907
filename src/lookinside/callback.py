"""The `Callback` base class and `LambdaCallback`, for plain callables attached to events.

A callback is an object with methods named after events (`after_batch`, ...), each taking the
learner. The base class defines every event as a documented no-op; the learner only calls the
ones a callback overrides, so an unused event costs nothing. A method named like an event that
is not one (`after_bacth`) is an error, raised when the class is defined or the callback added.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .events import EVENT_NAMES, FOREIGN_EVENTS, Event, looks_like_event

if TYPE_CHECKING:
    from .learner import Learner

Handler = Callable[["Learner"], Any]


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(EVENT_NAMES), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_event_names(owner: str, names: list[str]) -> None:
    """Raise `ValueError` if one of `names` looks like an event but is not one, or is another
    framework's name for one (`on_batch_end`): either would never be called."""
    foreign = sorted(n for n in names if n in FOREIGN_EVENTS)
    if foreign:
        name = foreign[0]
        raise ValueError(
            f"{owner} defines {name!r}, another framework's name for an event, which lookinside "
            f"would never call: name it {FOREIGN_EVENTS[name].value!r}."
        )
    bad = sorted(n for n in names if looks_like_event(n) and n not in EVENT_NAMES)
    if bad:
        raise ValueError(f"{owner} defines {bad[0]!r}, which is not an event{_suggest(bad[0])}.")


class Callback:
    """Base class of callbacks: override the events you need; each takes the learner.

    `order` sets the position among callbacks at the same event (lower runs first; ties keep
    the order in which callbacks were added). `name` is the attribute under which the learner
    exposes the callback; by default the class name in snake_case, without a `Callback`
    suffix (`ActivationStats` -> `learn.activation_stats`). `during_lr_find = False` marks a
    callback that records or schedules (and so must sit out the learning-rate finder's
    sweep, which leaves no trace) rather than one that shapes each batch; such callbacks sit
    out `get_preds` and `predict` too, as does one marked `during_predictions = False`.

    Under `CudaGraph`, the events inside the step (`after_pred` to `after_step`) fire when the
    step is captured, not at each replayed batch; see `lookinside.callbacks.cuda_graph`.
    """

    order: int = 0
    name: str | None = None
    during_lr_find: bool = True
    during_predictions: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [n for n, v in vars(cls).items() if callable(v)]
        check_event_names(f"Callback class {cls.__name__}", own)

    def handlers(self) -> Iterator[tuple[Event, Handler]]:
        """The (event, bound method) pairs this callback overrides or was given."""
        for event in Event:
            fn = getattr(self, event.value)
            base = getattr(Callback, event.value)
            if getattr(fn, "__func__", None) is not base:
                yield event, fn

    def __repr__(self) -> str:
        return type(self).__name__

    # What a checkpoint keeps of the callback (see `lookinside.checkpoint`).
    def state_dict(self) -> dict[str, Any]:
        """What this callback must carry across a stop and a resume, as tensors and plain data
        (a checkpoint stores it by the callback's name); {}: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what `state_dict` returned. A resumed fit calls it right after
        `before_fit` (see `Learner.resume_at_fit`), so a reset there does not undo it."""

    # Every event, as a no-op. Overridden ones are the callback's handlers.
    def before_fit(self, learn: Learner) -> None:
        """Once, before the first epoch (the optimizer exists)."""

    def before_epoch(self, learn: Learner) -> None:
        """At the start of each epoch; `learn.epoch` is set."""

    def before_train(self, learn: Learner) -> None:
        """Before the training batches of an epoch."""

    def before_batch(self, learn: Learner) -> None:
        """Before the forward pass; `learn.xb`, `learn.yb` may be replaced."""

    def after_pred(self, learn: Learner) -> None:
        """After the forward pass; `learn.pred` may be replaced."""

    def after_loss(self, learn: Learner) -> None:
        """After the loss; `learn.loss` may be replaced."""

    def before_backward(self, learn: Learner) -> None:
        """Training only: just before `loss.backward()`."""

    def after_backward(self, learn: Learner) -> None:
        """Training only: gradients exist, the step has not been taken."""

    def after_step(self, learn: Learner) -> None:
        """Training only: after `opt.step()`, before the gradients are zeroed."""

    def after_batch(self, learn: Learner) -> None:
        """After every batch, cancelled or not (`learn.loss` is None if never computed)."""

    def after_train(self, learn: Learner) -> None:
        """After the training batches of an epoch."""

    def before_validate(self, learn: Learner) -> None:
        """Before the validation batches (run under `torch.no_grad()`)."""

    def after_validate(self, learn: Learner) -> None:
        """After the validation batches."""

    def after_epoch(self, learn: Learner) -> None:
        """At the end of each epoch."""

    def after_fit(self, learn: Learner) -> None:
        """Once, at the end of `fit`, however it ended."""

    def after_cancel_batch(self, learn: Learner) -> None:
        """A `CancelBatchException` was raised; `after_batch` follows."""

    def after_cancel_train(self, learn: Learner) -> None:
        """A `CancelTrainException` was raised; `after_train` follows."""

    def after_cancel_validate(self, learn: Learner) -> None:
        """A `CancelValidateException` was raised; `after_validate` follows."""

    def after_cancel_epoch(self, learn: Learner) -> None:
        """A `CancelEpochException` was raised; `after_epoch` follows."""

    def after_cancel_fit(self, learn: Learner) -> None:
        """A `CancelFitException` was raised; `after_fit` follows."""


class LambdaCallback(Callback):
    """Plain callables attached to events: `LambdaCallback(after_batch=fn, order=0)`.

    Each `fn(learn)` may be a function, a lambda, a closure, a `functools.partial` or any
    callable object.
    """

    def __init__(self, order: int = 0, name: str | None = None, **handlers: Handler) -> None:
        check_event_names("LambdaCallback", list(handlers))
        unknown = [k for k in handlers if k not in EVENT_NAMES]
        if unknown:
            raise ValueError(f"LambdaCallback got {unknown[0]!r}, which is not an event.")
        if not handlers:
            raise ValueError("LambdaCallback needs at least one event, e.g. after_batch=fn.")
        for event, fn in handlers.items():
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {event} must be callable, got {fn!r}.")
            setattr(self, event, fn)
        self.order = order
        self.name = name
        self._events = list(handlers)

    def handlers(self) -> Iterator[tuple[Event, Handler]]:
        for event in self._events:
            yield Event(event), getattr(self, event)

    def __repr__(self) -> str:
        fns = ", ".join(f"{e}={_callable_name(getattr(self, e))}" for e in self._events)
        return f"LambdaCallback({fns})"


def _callable_name(fn: Handler) -> str:
    inner = getattr(fn, "func", fn)  # functools.partial
    return str(getattr(inner, "__name__", type(inner).__name__))


def snake_name(cls_name: str) -> str:
    """`ActivationStats` -> `activation_stats`; a `Callback` suffix is dropped when it can be."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls_name).lower()
    short = words.removesuffix("_callback")
    return short if short.isidentifier() and not keyword.iskeyword(short) else words


def callback_name(cb: Callback) -> str:
    """The name under which a learner exposes `cb`."""
    return cb.name or snake_name(type(cb).__name__)


def check_callback(cb: Callback) -> None:
    """Raise if `cb` carries an instance attribute named like an event that is not one."""
    check_event_names(
        f"Callback {type(cb).__name__}", [n for n, v in vars(cb).items() if callable(v)]
    )
