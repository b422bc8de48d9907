"""The learning-rate finder: an exponential sweep of the lr that leaves no trace behind.

`learn.lr_find()` trains on a copy of the situation: weights, optimizer state, every random
generator and the loop's counters are captured first and put back afterwards, and the
callbacks that record or schedule sit the sweep out, so a fit after it runs exactly as it would
have without it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

import numpy as np

from .callback import Callback
from .data import len_or_none
from .errors import LookinsideError
from .events import CancelFitException, CancelValidateException
from .rng import RngState

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .learner import Learner

SUGGESTION_RULE = "the middle of the smoothed loss's main descent"
START = 0.1  # of the sweep, at least 3 points, after the warm-up: the loss's starting level
LEFT = 0.1  # of the descent: a loss this far below its starting level has left it
NOISE = 2  # the smoothed loss's noise (in standard deviations) a descent must exceed


def suggest_lr(lrs: np.ndarray, losses: np.ndarray, beta: float = 0.98) -> tuple[float | None, str]:
    """The suggested lr and the rule that chose it, or None and why there is none, for
    `losses` smoothed by a debiased moving average of factor `beta`.

    Rule: the smoothing's warm-up (half its window, 1 / (1 - beta), and a quarter of the
    sweep at most), whose values are nearly single losses, is left out. Then the main descent
    runs from where the loss last leaves its starting level (the median of the next tenth of
    the sweep) to its minimum past that tenth; the suggestion is its middle in log lr: well
    into the descent, well short of the minimum, past which training diverges. No suggestion
    when the descent is no deeper than twice the smoothed loss's own noise before it (from
    its steps: each is (1 - beta) times a loss's deviation): it never descends (a model
    trained already, a sweep too short, a model that does not learn). A descent of under 3
    points (a cliff) gives the lr at the minimum divided by 10. Non-finite losses end the
    curve. Losses may be negative: only differences matter.
    """
    finite = np.isfinite(losses) & np.isfinite(lrs) & (lrs > 0)
    n = int(np.argmin(finite)) if not finite.all() else len(losses)  # the finite prefix
    if n < 2:
        return None, "too few finite losses to suggest an lr"
    skip = min(round(0.5 / (1 - beta)), n // 4)
    first = max(3, round(START * n))  # a tenth of the sweep
    lrs, losses = lrs[skip:n], losses[skip:n]
    level = float(np.median(losses[:first]))
    low = first + int(np.argmin(losses[first:])) if len(losses) > first else 0
    drop = level - float(losses[low])
    above = np.flatnonzero(losses[:low] >= level - LEFT * drop)
    left = int(above[-1]) if len(above) else 0
    steps = np.diff(losses[: max(left + 1, first)])  # before the descent
    noise = float(np.std(steps)) / math.sqrt(1 - beta**2)  # the average's, from its steps
    if not low or drop <= NOISE * noise:
        return None, (
            f"the smoothed loss never fell clearly below its starting level ({level:.4g}, "
            f"lowest {losses[low]:.4g}, noise {noise:.2g}): a model trained already, a sweep "
            "too short (raise end_lr or num_it), or a model that does not learn"
        )
    if low - left < 3:
        return float(lrs[low] / 10), "lr at the minimum of the smoothed loss / 10 (a cliff)"
    return float(np.sqrt(lrs[left] * lrs[low])), SUGGESTION_RULE


@dataclass
class LRFindResult:
    """The sweep: lr per step, raw and smoothed (debiased) loss, the suggestion and its rule."""

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    stop_reason: str
    beta: float = 0.98  # the smoothing's factor (its warm-up is left out of the suggestion)
    suggestion: float | None = field(init=False)
    rule: str = field(init=False)

    def __post_init__(self) -> None:
        self.suggestion, self.rule = suggest_lr(self.lrs, self.losses, self.beta)

    def plot(self, ax: Axes | None = None) -> Figure:
        """Smoothed loss against lr (log scale), the suggestion marked."""
        from .plots import new_axes

        fig, ax = new_axes(ax)
        ax.plot(self.lrs, self.losses, lw=1.5)
        ax.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss")
        if self.suggestion is not None:
            i = int(np.argmin(np.abs(self.lrs - self.suggestion)))
            ax.plot(
                [self.lrs[i]],
                [self.losses[i]],
                "o",
                color="C3",
                label=f"suggestion {self.suggestion:.2g}",
            )
            ax.legend()
        return fig

    def __repr__(self) -> str:
        shown = "none" if self.suggestion is None else f"{self.suggestion:.3g}"
        sweep = f"{len(self.lrs)} steps" + (
            f" from {self.lrs[0]:.3g} to {self.lrs[-1]:.3g}" if len(self.lrs) else ""
        )
        return f"LRFindResult(suggestion {shown}: {self.rule}; {sweep}, {self.stop_reason})"

    def _repr_html_(self) -> str:
        shown = "none" if self.suggestion is None else f"{self.suggestion:.3g}"
        return f"<p>lr_find: suggestion <b>{shown}</b> ({escape(self.rule)})</p>"


class LRFinder(Callback):
    """Sets lr_i = start·(end/start)^(i/(num_it-1)) in every group before batch i, and stops
    the fit when the smoothed loss exceeds `stop_factor` × its best (shifted for negative
    losses), turns non-finite, or after `num_it` batches. Validation is skipped.

    It reads the loss on the host every batch: the finder asks for it, so the sync is wanted.
    """

    order = -14  # after TrainEval has counted the batch

    def __init__(
        self, start_lr: float, end_lr: float, num_it: int, stop_factor: float, beta: float
    ) -> None:
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.stop_factor, self.beta = stop_factor, beta

    def before_fit(self, learn: Learner) -> None:
        self.lrs: list[float] = []
        self.raw: list[float] = []
        self.smooth: list[float] = []
        self.best, self.avg, self.stop_reason = math.inf, 0.0, "num_it reached"

    def before_batch(self, learn: Learner) -> None:
        if not learn.training:
            return
        pos = learn.train_iter / max(self.num_it - 1, 1)
        self.lr = self.start_lr * (self.end_lr / self.start_lr) ** pos
        learn.set_hyper("lr", self.lr)

    def after_batch(self, learn: Learner) -> None:
        if not learn.training or learn.loss is None:
            return
        value = float(learn.loss.detach())
        self.lrs.append(self.lr)
        self.raw.append(value)
        if not math.isfinite(value):
            self.smooth.append(value)
            self.stop_reason = "the loss became non-finite"
            raise CancelFitException
        self.avg = self.beta * self.avg + (1 - self.beta) * value
        smooth = self.avg / (1 - self.beta ** len(self.raw))
        self.smooth.append(smooth)
        self.best = min(self.best, smooth)
        if smooth > self.best + (self.stop_factor - 1) * abs(self.best):
            self.stop_reason = f"the loss passed {self.stop_factor:g}x its best"
            raise CancelFitException
        if len(self.raw) >= self.num_it:
            raise CancelFitException

    def before_validate(self, learn: Learner) -> None:
        raise CancelValidateException

    def result(self) -> LRFindResult:
        """The recorded sweep, with its suggestion."""
        as_array = np.asarray
        return LRFindResult(
            as_array(self.lrs),
            as_array(self.smooth),
            as_array(self.raw),
            self.stop_reason,
            self.beta,
        )


def lr_find(
    learn: Learner,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_factor: float = 4.0,
    beta: float = 0.98,
) -> LRFindResult:
    """Sweep the lr exponentially from `start_lr` to `end_lr` over at most `num_it` batches,
    then put the learner back exactly as it was and return the sweep (see `LRFinder`)."""
    if not 0 < start_lr < end_lr:
        raise LookinsideError(f"lr_find needs 0 < start_lr < end_lr, got {start_lr} and {end_lr}.")
    if num_it < 2:
        raise LookinsideError(f"lr_find needs num_it of at least 2, got {num_it}.")
    model_state = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}
    opt, opt_state = learn.opt, copy.deepcopy(learn.opt.state_dict()) if learn.opt else None
    rng = RngState.capture()
    generator = getattr(learn.dls.train, "generator", None)
    generator_state = generator.get_state() if generator is not None else None
    finder = LRFinder(start_lr, end_lr, num_it, stop_factor, beta)
    try:
        n_batches = len_or_none(learn.dls.train) or num_it
        quiet = [cb for cb in learn.cbs if not cb.during_lr_find]
        with learn.kept_loop_state(), learn.sidelined_cbs(quiet):
            learn.fit(math.ceil(num_it / max(n_batches, 1)), cbs=[finder])
    finally:
        learn.model.load_state_dict(model_state)
        if opt is not None and opt_state is not None:
            opt.load_state_dict(opt_state)
        learn.opt = opt
        rng.restore()
        if generator is not None:
            generator.set_state(generator_state)
    return finder.result()
