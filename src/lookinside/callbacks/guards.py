"""Guards: stop on a non-finite loss, clip gradients, stop early when a metric stalls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..callback import Callback
from ..events import CancelFitException
from .monitor import Monitored

if TYPE_CHECKING:
    from ..learner import Learner


class TerminateOnNonFinite(Callback):
    """Stops the fit when the training loss becomes NaN or infinite, naming the first such step.

    The check reads one flag on the host every `every` steps (the first bad step itself is kept
    on the device, so it is exact even when `every` > 1); `every=1` stops at once. After the
    fit, `stopped_at` is that step (or None) and `message` says what happened.
    """

    order = 45

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.stopped_at: int | None = None
        self.message = ""

    def before_fit(self, learn: Learner) -> None:
        self.stopped_at, self.message = None, ""
        self._first_bad: torch.Tensor | None = None

    def after_batch(self, learn: Learner) -> None:
        if not learn.training or learn.loss is None:
            return
        step = torch.full((), learn.train_iter - 1, device=learn.loss.device)  # no host copy
        bad = ~torch.isfinite(learn.loss.detach())
        if self._first_bad is None:
            self._first_bad = torch.full_like(step, -1)
        self._first_bad = torch.where(bad & (self._first_bad < 0), step, self._first_bad)
        if learn.train_iter % self.every == 0 and int(self._first_bad) >= 0:  # the asked-for read
            self.stopped_at = int(self._first_bad)
            self.message = f"the training loss became non-finite at step {self.stopped_at}"
            raise CancelFitException


class GradientClip(Callback):
    """Clips the gradients' global norm to `max_norm` before each optimizer step (no sync)."""

    order = 0

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def after_backward(self, learn: Learner) -> None:
        torch.nn.utils.clip_grad_norm_(learn.model.parameters(), self.max_norm)

    def __repr__(self) -> str:
        return f"GradientClip({self.max_norm})"


class EarlyStopping(Callback):
    """Stops the fit when `monitor` (an `AvgStats` value, e.g. `valid_loss`) has not improved
    by `min_delta` for `patience` epochs; lower is better unless `mode="max"` (default: max
    for names containing "accuracy").

    It judges an epoch before `Checkpoint` saves it, so that a checkpoint holds the
    judgement, and asks the fit to end (`learn.should_stop`) once the epoch's every handler
    has run: a resumed fit stops where the uncut one would."""

    order = 85  # after AvgStats has the epoch's numbers, before Checkpoint (90) saves them

    def __init__(self, monitor: str = "valid_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str | None = None) -> None:  # fmt: skip
        self.monitored = Monitored("EarlyStopping", monitor, mode, min_delta)
        self.patience = patience
        self.stopped_epoch: int | None = None
        self.wait = 0

    @property
    def monitor(self) -> str:
        return self.monitored.name

    @property
    def mode(self) -> str:
        return self.monitored.mode

    @property
    def best(self) -> float | None:
        """The best value seen in this fit."""
        return self.monitored.best

    def before_fit(self, learn: Learner) -> None:
        self.monitored.best, self.wait, self.stopped_epoch = None, 0, None

    def after_epoch(self, learn: Learner) -> None:
        value = self.monitored.value(learn)
        if value is None:
            return  # the epoch stopped before it had numbers
        if self.monitored.improved(value):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch, learn.should_stop = learn.epoch, True

    def state_dict(self) -> dict[str, Any]:
        """The best value and the epochs waited since (for checkpoints)."""
        return {"best": self.monitored.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitored.best, self.wait = state["best"], int(state["wait"])
