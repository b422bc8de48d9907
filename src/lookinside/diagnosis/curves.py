"""Rules on the loss: a loss that oscillates, a loss that does not fall (with weights that
barely move, or stuck at the level of a uniform guess), and a validation loss that climbs
from its best epoch to end far above the training loss.

They read the training loss per step (recorded by `ActivationStats`, or by `Watcher.record_loss`
in a hand-written loop) and, where given, the losses of each epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .evidence import Evidence
from .findings import Finding

MIN_STEPS = 20  # fewer recorded losses than this say nothing about a curve
FLAT = 0.05  # the loss fell less than 5 % from start to end: it did not fall
STILL = 1e-5  # median relative change of the fastest-moving parameters per step: not moving
CHANCE = 0.05  # within 5 % of ln(classes): a uniform guess ...
BETTER_THAN_CHANCE = 2.0  # ... unless the valid accuracy is twice a guess's, 1/classes
EXCURSION = 1.2  # the smoothed loss climbs 20 % above its start after the start ...
ABOVE_NOISE = 5.0  # ... by five times a step's noise at least (a lucky first batch is no start)
GIVE_BACK = 0.25  # the loss climbed back by a quarter of all its progress, at any point ...
PROGRESS = 0.1  # ... when that progress was a tenth of the start at least ...
BACK_ABOVE_NOISE = 4.0  # ... by four times a step's noise there
OVERFIT = 1.1  # final valid loss over its best
GAP = 2.0  # final valid loss over final train loss


@dataclass(frozen=True)
class Curve:
    """The measures of a loss curve the rules read (`None` when the curve is too short)."""

    start: float  # the first loss, before any step changed the model
    best: float  # lowest point of the smoothed curve
    end: float  # mean of the last window
    high: float  # highest point of the smoothed curve
    noise: float  # a step's loss's distance from the smoothed curve, over the curve (median)
    given_back: float  # the largest climb above the lowest point so far, over all the progress
    relapse: float  # ... that climb, over the smoothed loss there, in units of `noise`
    steps: int

    @property
    def drop(self) -> float:
        """How much the loss fell, as a share of its start."""
        return (self.start - self.end) / abs(self.start) if self.start else 0.0

    @property
    def excursion(self) -> float:
        """The highest point of the smoothed curve, over the start."""
        return self.high / self.start if self.start > 0 else 0.0

    def above_noise(self, rise: float, level: float) -> float:
        """`rise` at a loss of `level`, in units of a step's noise there (the noise of a
        loss grows with the loss)."""
        size = self.noise * abs(level)
        return rise / size if size > 0 else math.inf


def curve(losses: np.ndarray, steps: np.ndarray | None = None) -> Curve | None:
    """The measures of a training-loss curve (unrecorded steps, NaN, left out). `steps`:
    each loss's step, when the record is sparser in places (`watch_rate`'s "auto": dense at
    first, then each recorded loss the mean of several steps'); the smoothing window spans
    steps, not recorded losses, so a sparse stretch is not read as noise."""
    finite = np.isfinite(losses)
    recorded = losses[finite]
    n = len(recorded)
    if n < MIN_STEPS:
        return None
    at = np.arange(n) if steps is None else np.asarray(steps)[finite]
    gap = max(int(np.diff(at).min()), 1)  # the densest stretch's interval (1: every step)
    w = max(3, (int(at[-1] - at[0]) // gap + 1) // 20)  # in recorded losses, where dense
    starts = np.arange(int(np.searchsorted(at, at[-1] - (w - 1) * gap, side="right")))
    ends = np.searchsorted(at, at[starts] + w * gap)  # each window's losses: [start, end)
    sums = np.concatenate([[0.0], np.cumsum(recorded)])
    smooth = (sums[ends] - sums[starts]) / (ends - starts)
    centres = np.minimum(np.searchsorted(at, at[starts] + (w // 2) * gap), ends - 1)
    # a recorded loss that is the mean of m steps' is √m times quieter than one step's:
    # its residual is scaled back, so that `noise` stays a step's however sparse the record
    averaged = np.diff(at, prepend=at[0] - gap) / gap
    residual = (recorded[centres] - smooth) * np.sqrt(averaged[centres])
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.abs(residual) / np.abs(smooth)
    noise = float(np.median(relative[np.isfinite(relative)])) if len(relative) else 0.0
    lowest = np.minimum.accumulate(smooth)
    climb = smooth - lowest
    gained = recorded[0] - float(smooth.min())
    with np.errstate(invalid="ignore", divide="ignore"):
        in_noise = np.where(noise * np.abs(smooth) > 0, climb / (noise * np.abs(smooth)), np.inf)
    big = in_noise >= BACK_ABOVE_NOISE  # climbs above the loss's own noise
    t = int(np.argmax(np.where(big, climb, 0.0)))
    return Curve(
        start=float(recorded[0]),
        best=float(smooth.min()),
        end=float(recorded[at > at[-1] - max(w, n // 10) * gap].mean()),
        high=float(smooth.max()),
        noise=noise,
        given_back=float(climb[t] / gained)
        if big[t] and gained > PROGRESS * abs(recorded[0])
        else 0.0,
        relapse=float(in_noise[t]) if big[t] else 0.0,
        steps=n,
    )


def update_rate(ev: Evidence) -> float:
    """How fast the fastest-moving module's parameters move: the median over recorded
    intervals of |Δ‖W‖| / ‖W‖ per step, the largest over modules (NaN without norms)."""
    rates = []
    for x in ev.layers:
        measured = np.isfinite(x.param_norm) & (x.param_norm > 0)
        norms, steps = x.param_norm[measured], x.steps[measured]
        if len(norms) >= 2:
            change = np.abs(np.diff(norms)) / norms[:-1] / np.diff(steps)
            rates.append(float(np.median(change)))
    return max(rates) if rates else math.nan


def chance_level(ev: Evidence) -> float | None:
    """ln(classes) for a cross-entropy loss over the model's outputs, else None; None too
    when the last epoch's valid accuracy beats a guess's (1/classes) twice over."""
    outputs = ev.telemetry.meta.get("outputs")
    loss = ev.telemetry.meta.get("loss")
    if not isinstance(outputs, int) or outputs < 2 or loss not in ("cross_entropy", "nll"):
        return None
    accuracy = ev.epochs[-1].get("valid_accuracy", math.nan) if ev.epochs else math.nan
    if accuracy >= BETTER_THAN_CHANCE / outputs:
        return None
    return math.log(outputs)


def stalled(ev: Evidence) -> list[Finding]:
    """A loss that does not fall while the weights barely move (the learning rate is far too
    low); a loss that ends at the level of a uniform guess, ln(classes), fallen there or not
    (nothing learned from the labels); or a loss that does not fall (a plateau)."""
    c = curve(ev.losses, ev.steps)
    if c is None:
        return []
    steps = (ev.step(0), ev.step(-1))
    rate = update_rate(ev)
    level = chance_level(ev)
    valid = [e.get("valid_loss", math.nan) for e in ev.epochs]
    end = valid[-1] if valid and math.isfinite(valid[-1]) else c.end
    at_chance = level is not None and abs(end - level) <= CHANCE * level
    if c.drop >= FLAT and not at_chance:
        return []
    fell = f"the loss went from {c.start:.3g} to {c.end:.3g} over {c.steps} recorded steps"
    moving = ", while the weights move" if math.isfinite(rate) else ""
    if c.drop < FLAT and math.isfinite(rate) and rate < STILL:
        message = f"{fell}, and the weights barely moved ({rate:.1e} of their norm a step)"
        return [ev.finding("no_learning", [], steps, "warning", message, rate=rate,
                           start=c.start, end=c.end)]  # fmt: skip
    if at_chance:
        assert level is not None
        message = (
            f"{fell}: it stays at ln({ev.telemetry.meta['outputs']}) = {level:.3g}, a uniform "
            f"guess{moving}: the model learns nothing from its targets"
        )
        return [ev.finding("chance", [], steps, "warning", message, level=level, end=end,
                           rate=rate)]  # fmt: skip
    message = f"{fell}: it does not fall{moving}"
    return [ev.finding("no_learning", [], steps, "warning", message, "plateau", rate=rate,
                       start=c.start, end=c.end)]  # fmt: skip


def oscillation(ev: Evidence) -> list[Finding]:
    """A loss that climbs back above where it started, or gives back much of its progress:
    steps too large for the landscape (a learning rate too high, but finite)."""
    c = curve(ev.losses, ev.steps)
    if c is None:
        return []
    climbed = c.excursion >= EXCURSION and c.above_noise(c.high - c.start, c.start) >= ABOVE_NOISE
    gave_back = c.given_back >= GIVE_BACK
    if not (climbed or gave_back):
        return []
    if climbed:
        message = (
            f"the loss climbed back to {c.high:.3g} after starting at {c.start:.3g} (smoothed): "
            "training oscillates"
        )
    else:
        message = (
            f"the loss (smoothed) climbed back by {c.given_back:.0%} of all the progress it "
            f"made from {c.start:.3g} to {c.best:.3g}, {c.relapse:.0f} times its own noise"
        )
    return [ev.finding("oscillation", [], (ev.step(0), ev.step(-1)), "warning", message,
                       excursion=c.excursion, given_back=c.given_back)]  # fmt: skip


def overfitting(ev: Evidence) -> list[Finding]:
    """The validation loss climbs from its best epoch and ends far above the training loss."""
    rows = [e for e in ev.epochs if "valid_loss" in e and "train_loss" in e]
    valid = np.array([e["valid_loss"] for e in rows], dtype=float)
    train = np.array([e["train_loss"] for e in rows], dtype=float)
    if len(rows) < 3 or not np.isfinite(valid).all() or not np.isfinite(train).all():
        return []
    best = int(np.argmin(valid))
    if not (valid[-1] >= OVERFIT * valid[best] and valid[-1] >= GAP * train[-1]):
        return []
    message = (
        f"the validation loss rose from {valid[best]:.3g} (epoch {best}) to {valid[-1]:.3g} "
        f"while the training loss is {train[-1]:.3g}: the model memorises its training set"
    )
    return [ev.finding("overfitting", [], (ev.step(0), ev.step(-1)), "warning", message,
                       best_epoch=best, best_valid=valid[best], valid=valid[-1],
                       train=train[-1])]  # fmt: skip
