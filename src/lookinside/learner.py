"""The `Learner`: a training loop that reads top to bottom and fires events for callbacks.

`fit` -> `_epoch` -> `_train` / `_validate` -> `_batch`. Each phase fires `before_*`, does its
work, and fires `after_*` from a `finally`; a cancellation exception raised by a callback ends
its phase early and fires `after_cancel_*` first. Callbacks change what the loop does by
changing `learn.xb`, `learn.yb`, `learn.pred`, `learn.loss` or the optimizer: the loop uses
whatever they leave.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import explain
from .callback import Callback, Handler, callback_name, check_callback
from .data import len_or_none
from .errors import LookinsideError, gist
from .events import (
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelTrainException,
    CancelValidateException,
    Event,
)

if TYPE_CHECKING:
    from .lr_finder import LRFindResult
    from .rng import RngState

LossFunc = Callable[..., Tensor]
OptFunc = Callable[..., torch.optim.Optimizer]
CallbackLike = Callback | type[Callback]
C = TypeVar("C", bound=Callback)


# The loop's state, which callbacks read and `kept_loop_state` puts back.
LOOP_STATE = ("n_epochs", "start_epoch", "epoch_done", "epoch_failed", "should_stop", "epoch",
              "iter", "n_iter", "training", "train_iter", "pct_train", "xb", "yb", "pred",
              "loss")  # fmt: skip


class Learner:
    """A model, its data, a loss and an optimizer, trained by `fit` with callbacks.

    Args:
        model: the module to train.
        dls: an object with `.train` and `.valid` iterables of `(xb, yb)` batches (`valid` may
            be None), such as `DataLoaders`.
        loss_func: `loss_func(pred, yb) -> Tensor`.
        lr: learning rate of the optimizer `fit` creates.
        opt_func: `opt_func(params, lr=lr)` builds the optimizer (any `torch.optim` class).
        cbs: callbacks (instances, or classes to instantiate) for every fit.
        metrics: `metric(pred, yb) -> Tensor` functions averaged over validation batches.
        default_cbs: add TrainEval, DeviceCallback, Distributed, AvgStats, Recorder, ProgressBar.
    """

    def __init__(
        self,
        model: nn.Module,
        dls: Any,
        loss_func: LossFunc = F.cross_entropy,
        lr: float = 0.1,
        opt_func: OptFunc = torch.optim.SGD,
        cbs: Iterable[CallbackLike] | None = None,
        metrics: Sequence[Callable[[Tensor, Tensor], Tensor]] | None = None,
        default_cbs: bool = True,
    ) -> None:
        _check_arguments(model, dls, loss_func)
        self.model = model
        self.dls = dls
        self.loss_func = loss_func
        self.lr = lr
        self.opt_func = opt_func
        self.metrics = list(metrics or [])
        self.opt: torch.optim.Optimizer | None = None
        self.cbs: list[Callback] = []
        self._silent: set[int] = set()  # ids of callbacks attached but not called
        self._handlers: dict[Event, list[Handler]] = {e: [] for e in Event}
        self._handler_owners: dict[Event, list[str]] = {e: [] for e in Event}
        # Loop state, read and written by callbacks.
        self.n_epochs = 0
        self.epoch = 0
        self.iter = 0
        self.n_iter: int | None = None
        self.training = False
        self.start_epoch = 0  # the first epoch of this fit (> 0 when resuming)
        self.epoch_done = False  # whether the current epoch ran to its end
        self.epoch_failed = False  # ... or an error (not a cancellation) stopped it
        self.should_stop = False  # a callback asks the fit to end once this epoch has ended
        self.train_iter = 0  # training batches done, counting resumed epochs (TrainEval)
        self.pct_train = 0.0  # progress through this fit's training, in [0, 1] (TrainEval)
        self.xb: Any = None
        self.yb: Any = None
        self.pred: Any = None
        self.loss: Tensor | None = None
        # Set by a callback that runs whole training steps itself (`CudaGraph`): called after
        # before_batch, it returns True when it did the step (and set pred and loss), False to
        # leave the batch to the eager step.
        self.step_runner: Callable[[Learner], bool] | None = None
        self._resuming: tuple[Mapping[str, dict[str, Any]], RngState | None, str] | None = None
        if default_cbs:
            from .callbacks import default_callbacks

            self.add_cbs(default_callbacks())
        self.add_cbs(cbs)

    # ----------------------------------------------------------------- callbacks
    def add_cbs(self, cbs: Iterable[CallbackLike] | None) -> list[Callback]:
        """Add callbacks (instances, or classes to instantiate); return the instances added."""
        added = []
        for cb in cbs or []:
            instance = cb() if isinstance(cb, type) and issubclass(cb, Callback) else cb
            if not isinstance(instance, Callback):
                raise TypeError(
                    f"{instance!r} is not a Callback; wrap a plain function as "
                    "LambdaCallback(after_batch=fn)."
                )
            check_callback(instance)
            self._expose(instance)
            self.cbs.append(instance)
            added.append(instance)
        self._rebuild_handlers()
        return added

    def remove_cbs(self, cbs: Iterable[Callback]) -> None:
        """Remove callbacks added earlier (and their `learn.<name>` attributes)."""
        for cb in list(cbs):
            if cb in self.cbs:
                self.cbs.remove(cb)
                for attr in [k for k, v in vars(self).items() if v is cb]:
                    delattr(self, attr)
        self._rebuild_handlers()

    def find_cb(self, cls: type[C]) -> C | None:
        """The first callback of type `cls`, or None: the typed twin of `learn.<name>`."""
        return next((cb for cb in self.cbs if isinstance(cb, cls)), None)

    @contextmanager
    def added_cbs(self, cbs: Iterable[CallbackLike] | None) -> Iterator[list[Callback]]:
        """Add callbacks for the duration of a `with` block, removing them even on error."""
        added = self.add_cbs(cbs)
        try:
            yield added
        finally:
            self.remove_cbs(added)

    def _expose(self, cb: Callback) -> None:
        base = callback_name(cb)
        name, n = base, 1
        while hasattr(self, name):
            if not isinstance(getattr(self, name), Callback):
                raise ValueError(
                    f"callback name {base!r} clashes with the learner attribute of that name; "
                    "give the callback another `name`."
                )
            n += 1
            name = f"{base}_{n}"
        setattr(self, name, cb)

    @contextmanager
    def kept_loop_state(self) -> Iterator[None]:
        """Put the loop's state (counters, the batch, the modes) back as it was after a `with`
        block that runs the loop for another purpose (the lr finder's sweep, predictions)."""
        kept = {k: getattr(self, k) for k in LOOP_STATE}
        was_training = self.model.training
        try:
            yield
        finally:
            for k, v in kept.items():
                setattr(self, k, v)
            self.model.train(was_training)

    @contextmanager
    def sidelined_cbs(self, cbs: Iterable[Callback]) -> Iterator[None]:
        """Keep `cbs` attached but silent for the duration of a `with` block."""
        self._silent = set(map(id, cbs))
        self._rebuild_handlers()
        try:
            yield
        finally:
            self._silent = set()
            self._rebuild_handlers()

    def _rebuild_handlers(self) -> None:
        active = [cb for cb in self.cbs if id(cb) not in self._silent]
        ordered = sorted(enumerate(active), key=lambda ic: (ic[1].order, ic[0]))
        self._handlers = {e: [] for e in Event}
        self._handler_owners = {e: [] for e in Event}
        for _, cb in ordered:
            for event, fn in cb.handlers():
                self._handlers[event].append(fn)
                self._handler_owners[event].append(repr(cb))

    def _fire(self, event: Event) -> None:
        for handler in self._handlers[event]:
            handler(self)

    def describe_loop(self) -> LoopDescription:
        """Which callbacks run at each event, in the loop's shape (a str that a notebook or
        the REPL shows as the text itself)."""
        indent = {
            Event.before_fit: 0, Event.after_cancel_fit: 0, Event.after_fit: 0,
            Event.before_epoch: 1, Event.after_cancel_epoch: 1, Event.after_epoch: 1,
            Event.before_train: 2, Event.after_cancel_train: 2, Event.after_train: 2,
            Event.before_validate: 2, Event.after_cancel_validate: 2, Event.after_validate: 2,
        }  # fmt: skip
        order = [
            Event.before_fit, Event.before_epoch, Event.before_train, Event.before_batch,
            Event.after_pred, Event.after_loss, Event.before_backward, Event.after_backward,
            Event.after_step, Event.after_cancel_batch, Event.after_batch,
            Event.after_cancel_train, Event.after_train, Event.before_validate,
            Event.after_cancel_validate, Event.after_validate, Event.after_cancel_epoch,
            Event.after_epoch, Event.after_cancel_fit, Event.after_fit,
        ]  # fmt: skip
        lines = []
        for event in order:
            names = self._handler_owners[event]
            pad = "  " * indent.get(event, 3)
            lines.append(f"{pad}{event.value}: {', '.join(names) if names else '-'}")
        return LoopDescription("\n".join(lines))

    # ----------------------------------------------------------------- optimizer
    def create_opt(self) -> torch.optim.Optimizer:
        """Build the optimizer from `opt_func` over the model's parameters, at `self.lr`."""
        self.opt = self.opt_func(self.model.parameters(), lr=self.lr)
        return self.opt

    def set_hyper(self, name: str, value: float) -> None:
        """Set an optimizer hyper-parameter (`lr`, `momentum`, ...) in every parameter group."""
        assert self.opt is not None, "the optimizer is created by fit() or create_opt()"
        for group in self.opt.param_groups:
            group[name] = value

    # ----------------------------------------------------------------- the loop
    def fit(
        self,
        n_epochs: int,
        lr: float | None = None,
        cbs: Iterable[CallbackLike] | None = None,
        start_epoch: int = 0,
    ) -> None:
        """Train for `n_epochs`; `cbs` are added for this fit only (and removed even on error).

        `start_epoch` continues a fit whose first epochs are done (after loading a checkpoint):
        schedules and counters pick up where they were.
        """
        with self.added_cbs(cbs):
            if self.opt is None:
                self.create_opt()
            if lr is not None:
                self.lr = lr
                self.set_hyper("lr", lr)
            self.n_epochs, self.start_epoch, self.should_stop = n_epochs, start_epoch, False
            try:
                self._fire(Event.before_fit)
                self._resume_callbacks()
                for self.epoch in range(start_epoch, n_epochs):
                    self._epoch()
                    if self.should_stop:  # after every after_epoch handler (a checkpoint)
                        raise CancelFitException
            except CancelFitException:
                self._fire(Event.after_cancel_fit)
            finally:
                self._fire(Event.after_fit)

    def resume_at_fit(
        self,
        states: Mapping[str, dict[str, Any]],
        rng: RngState | None = None,
        source: str = "the checkpoint",
    ) -> None:
        """Have the next fit continue a stopped one: right after `before_fit` (where callbacks
        reset what they keep), each callback loads its state from `states`, by its name, and
        then `rng` is restored, so the first batch draws what it would have drawn had the fit
        never stopped. A state that does not fit its callback is one sentence naming `source`.
        """
        self._resuming = (states, rng, source)

    def _resume_callbacks(self) -> None:
        if self._resuming is None:
            return
        states, rng, source = self._resuming
        self._resuming = None
        what = "?"
        try:
            for cb in self.cbs:
                what = f"the callback {callback_name(cb)}"
                if callback_name(cb) in states:
                    cb.load_state_dict(dict(states[callback_name(cb)]))
            what = "the random generators"
            if rng is not None:
                rng.restore()
        except (KeyError, IndexError, ValueError, TypeError, RuntimeError) as e:
            raise LookinsideError(
                f"{source} does not fit {what} ({gist(e)}); was it changed since it was written?"
            ) from None

    def fit_one_cycle(
        self,
        n_epochs: int,
        lr_max: float | None = None,
        div: float = 25.0,
        div_final: float = 1e4,
        pct_start: float = 0.25,
        moms: tuple[float, float] | None = (0.95, 0.85),
        cbs: Iterable[CallbackLike] | None = None,
        start_epoch: int = 0,
    ) -> None:
        """Train with one-cycle: lr warms up from lr_max/div to `lr_max` over `pct_start` of
        the steps, then anneals to lr_max/div_final (cosine both ways); momentum moves the
        other way between `moms` when the optimizer uses momentum (SGD with momentum, Adam's
        first beta). Plain SGD keeps its momentum of 0: adding some would multiply the
        effective step."""
        from .callbacks.param_scheduler import ParamScheduler
        from .schedules import one_cycle, one_cycle_mom

        if self.opt is None:
            self.create_opt()
        assert self.opt is not None
        scheds = [ParamScheduler("lr", one_cycle(lr_max or self.lr, div, div_final, pct_start))]
        group = self.opt.param_groups[0]
        if moms is not None and (group.get("momentum", 0) > 0 or "betas" in group):
            scheds.append(ParamScheduler("momentum", one_cycle_mom(*moms, pct_start)))
        self.fit(n_epochs, cbs=[*scheds, *(cbs or [])], start_epoch=start_epoch)

    def lr_find(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_it: int = 100,
        stop_factor: float = 4.0,
    ) -> LRFindResult:
        """Sweep the lr exponentially and suggest one; the learner is left exactly as it was.

        See `lookinside.lr_finder` for the stop rule and the suggestion's rule.
        """
        from .lr_finder import lr_find

        resuming, self._resuming = self._resuming, None  # for the real fit, not the sweep
        try:
            return lr_find(self, start_lr, end_lr, num_it, stop_factor)
        finally:
            self._resuming = resuming

    # ----------------------------------------------------------------- a trained model
    def get_preds(self, dl: Iterable[Any] | None = None) -> tuple[Any, Any]:
        """Predictions and targets over `dl` (default: the validation data), on the CPU."""
        from .inference import get_preds

        return get_preds(self, dl)

    def predict(self, x: Any, batch: bool = False) -> Any:
        """The prediction for one input (`batch=True`: for a batch of inputs)."""
        from .inference import predict

        return predict(self, x, batch)

    def validate(self, dl: Iterable[Any] | None = None) -> dict[str, float]:
        """The loss and metrics over `dl` (default: the validation data)."""
        from .inference import validate

        return validate(self, dl)

    def save(self, path: str | os.PathLike[str], with_opt: bool = False) -> Path:
        """Save the weights (and, `with_opt`, the optimizer's state) to `path`, atomically."""
        from .inference import save_weights

        return save_weights(self, path, with_opt)

    def load(self, path: str | os.PathLike[str], with_opt: bool = False) -> Learner:
        """Load weights `save` wrote (safely: tensors only); returns the learner."""
        from .inference import load_weights

        load_weights(self, path, with_opt)
        return self

    # ----------------------------------------------------------------- the loop
    def _epoch(self) -> None:
        self.epoch_done = self.epoch_failed = False
        try:
            self._fire(Event.before_epoch)
            self._train()
            self._validate()
            self.epoch_done = True
        except CancelEpochException:
            self.epoch_done = True
            self._fire(Event.after_cancel_epoch)
        except CancelFitException:
            raise
        except BaseException:
            self.epoch_failed = True  # after_epoch runs: it must not take this for an epoch
            raise
        finally:
            self._fire(Event.after_epoch)

    def _train(self) -> None:
        self.training = True
        self.n_iter = len_or_none(self.dls.train)
        try:
            self._fire(Event.before_train)
            self._all_batches(self.dls.train)
        except CancelTrainException:
            self._fire(Event.after_cancel_train)
        finally:
            self._fire(Event.after_train)

    def _validate(self, batches: Iterable[Any] | None = None) -> None:
        batches = self.dls.valid if batches is None else batches
        if batches is None:
            return
        self.training = False
        self.n_iter = len_or_none(batches)
        try:
            self._fire(Event.before_validate)
            with torch.no_grad():
                self._all_batches(batches)
        except CancelValidateException:
            self._fire(Event.after_cancel_validate)
        finally:
            self._fire(Event.after_validate)

    def _all_batches(self, batches: Iterable[Any]) -> None:
        for self.iter, (self.xb, self.yb) in enumerate(batches):
            self._batch()

    def _batch(self) -> None:
        self.pred = self.loss = None
        try:
            self._fire(Event.before_batch)
            runner = self.step_runner
            if not (self.training and runner is not None and runner(self)):
                self.step()
                if self.training:
                    assert self.opt is not None
                    self.opt.zero_grad(set_to_none=True)
        except CancelBatchException:
            self._fire(Event.after_cancel_batch)
        finally:
            self._fire(Event.after_batch)

    def step(self) -> None:
        """One batch's work, each part followed by its event: forward, loss and, in training,
        backward and the optimizer step (the gradients are left in place).

        `CudaGraph` captures exactly this; `_batch` runs it and then zeroes the gradients.
        """
        try:
            self.pred = self.model(*self.xb) if isinstance(self.xb, tuple) else self.model(self.xb)
        except RuntimeError as e:  # a shape mismatch, most often: say which layer
            explain.reraise(e, explain.forward_error(self.model, self.xb, e))
        self._fire(Event.after_pred)
        try:
            self.loss = self.loss_func(self.pred, self.yb)
        except (IndexError, RuntimeError) as e:
            explain.reraise(e, explain.loss_error(self.pred, self.yb, e))
        self._fire(Event.after_loss)
        if self.training:
            self._fire(Event.before_backward)
            self.loss.backward()  # type: ignore[no-untyped-call]
            self._fire(Event.after_backward)
            assert self.opt is not None
            self.opt.step()
            self._fire(Event.after_step)

    def __repr__(self) -> str:
        cbs = ", ".join(type(cb).__name__ for cb in self.cbs)
        return f"Learner({type(self.model).__name__}, cbs=[{cbs}])"

    def _repr_html_(self) -> str:
        from html import escape

        params = sum(p.numel() for p in self.model.parameters())
        loss = getattr(self.loss_func, "__name__", type(self.loss_func).__name__)
        opt = getattr(self.opt_func, "__name__", type(self.opt_func).__name__)
        rows = [("model", f"{type(self.model).__name__} ({params:,} parameters)"),
                ("loss", loss), ("optimizer", f"{opt}, lr {self.lr:g}"),
                ("callbacks", ", ".join(type(cb).__name__ for cb in self.cbs))]  # fmt: skip
        cells = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        return f"<table><caption>Learner</caption>{cells}</table>"


def _check_arguments(model: Any, dls: Any, loss_func: Any) -> None:
    """Raise `LookinsideError` with one sentence for the mistakes a user of another library
    makes first: fastai's order (data, then model), the data as a tuple, a loss class."""
    if isinstance(dls, nn.Module) and not isinstance(model, nn.Module):
        raise LookinsideError("Learner takes the model first, then the data: Learner(model, "
                              "dls) (fastai's order is the other way round).")  # fmt: skip
    if not isinstance(model, nn.Module):
        raise LookinsideError(f"Learner's model must be a torch.nn.Module, not a "
                              f"{type(model).__name__}.")  # fmt: skip
    if isinstance(dls, (tuple, list)):
        raise LookinsideError("Learner takes a DataLoaders, not a "
                              f"{type(dls).__name__}: Learner(model, li.DataLoaders(train, "
                              "valid)).")  # fmt: skip
    if not hasattr(dls, "train"):
        raise LookinsideError(f"Learner's data must be a DataLoaders (with .train and .valid), "
                              f"not a {type(dls).__name__}.")  # fmt: skip
    if isinstance(loss_func, type):
        raise LookinsideError(f"loss_func is the class {loss_func.__name__}, not a loss: pass "
                              f"an instance, {loss_func.__name__}().")  # fmt: skip


class LoopDescription(str):
    """`Learner.describe_loop`'s text: shown as itself, not as a quoted string."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self)}</pre>"
