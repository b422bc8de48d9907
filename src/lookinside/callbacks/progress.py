"""`ProgressBar`: a bar per phase on a terminal, and one printed row per epoch."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from ..callback import Callback
from .avg_stats import AvgStats

if TYPE_CHECKING:
    from ..learner import Learner


def format_row(row: dict[str, float], header: bool = False) -> str:
    """One line of the epoch table (or its header), columns 12 wide."""
    cells = []
    for key, value in row.items():
        width = max(len(key), 8)
        if header:
            cells.append(f"{key:>{width}}")
        elif key == "epoch":
            cells.append(f"{int(value):>{width}d}")
        else:
            cells.append(f"{value:>{width}.4f}")
    return "  ".join(cells)


class ProgressBar(Callback):
    """Progress through every phase: on a terminal a bar over batches with the running loss,
    elsewhere (a log file, CI, a cluster job) a plain line every `every` seconds; and each
    epoch's row. During `lr_find` it shows the sweep (steps, lr, smoothed loss), no rows.

    `bar=None` decides by `file.isatty()`; the bar is never drawn into logs or pipes.
    `rows=False` silences the per-epoch table; `every=None` the plain lines. The running loss
    is read from the device at most once a second on a bar, once every `every` seconds in a
    log: a host read the progress asks for, too rare to cost anything.
    """

    order = 60
    during_predictions = False  # its labels are epochs', which predictions have none of

    def __init__(
        self,
        bar: bool | None = None,
        rows: bool = True,
        file: TextIO | None = None,
        every: float | None = 10.0,
    ) -> None:
        self.bar, self.rows, self.file, self.every = bar, rows, file, every
        self._pbar: Any = None
        self._phase = ""
        self._finder: Any = None  # the lr finder whose sweep this fit is, if it is one
        self._bar_on = self._header_done = False
        self._start = self._said = self._refreshed = 0.0

    def _out(self) -> TextIO:
        return self.file or sys.stdout

    def before_fit(self, learn: Learner) -> None:
        from ..lr_finder import LRFinder

        self._header_done = False
        self._bar_on = self.bar if self.bar is not None else self._out().isatty()
        self._finder = learn.find_cb(LRFinder)  # a sweep: its progress, and no epoch rows
        self._start = self._said = time.perf_counter()
        if self._finder is not None:
            self._phase = "lr_find"
            self._open(learn, self._finder.num_it)

    def _open(self, learn: Learner, total: int | None) -> None:
        self._close(learn)
        if self._bar_on:
            from tqdm.auto import tqdm

            self._pbar = tqdm(total=total, desc=self._phase, leave=False, file=self._out())
            self._refreshed = time.perf_counter()

    def _close(self, learn: Learner) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None

    def _begin_phase(self, learn: Learner, phase: str) -> None:
        if self._finder is None:
            self._phase = f"epoch {learn.epoch + 1}/{learn.n_epochs} {phase}"
            self._open(learn, learn.n_iter)

    def before_train(self, learn: Learner) -> None:
        self._begin_phase(learn, "train")

    def before_validate(self, learn: Learner) -> None:
        self._begin_phase(learn, "valid")

    def after_batch(self, learn: Learner) -> None:
        now = time.perf_counter()
        if self._pbar is not None:
            self._pbar.update(1)
            if now - self._refreshed >= 1.0:  # the running loss, once a second
                self._refreshed = now
                self._pbar.set_postfix_str(self._numbers(learn))  # redraws
        elif self.every is not None and now - self._said >= self.every:
            self._said = now
            done = f"{learn.iter + 1}" + (f"/{learn.n_iter}" if learn.n_iter else "")
            print(f"{self._phase} {done}: {self._numbers(learn)}, {now - self._start:.0f} s",
                  file=self._out(), flush=True)  # fmt: skip

    def _numbers(self, learn: Learner) -> str:
        """The running loss of the phase (the sweep's lr and smoothed loss in lr_find)."""
        if self._finder is not None:
            lrs, losses = self._finder.lrs, self._finder.smooth
            return f"lr {lrs[-1]:.2e}, loss {losses[-1]:.4f}" if losses else "starting"
        stats = learn.find_cb(AvgStats)
        loss = stats.running(learn.training) if stats is not None else None
        return "loss -" if loss is None else f"loss {loss:.4f}"

    def after_train(self, learn: Learner) -> None:
        if self._finder is None:
            self._close(learn)

    after_validate = after_train

    def after_epoch(self, learn: Learner) -> None:
        stats = learn.find_cb(AvgStats)
        if not self.rows or self._finder is not None or stats is None or not stats.history:
            return
        if stats.last is None or stats.last.epoch != learn.epoch:
            return  # no numbers for this epoch (it stopped early)
        row = stats.history[-1].row()
        out = self._out()
        if not self._header_done:
            print(format_row(row, header=True), file=out)
            self._header_done = True
        print(format_row(row), file=out, flush=True)

    def after_fit(self, learn: Learner) -> None:
        self._close(learn)
