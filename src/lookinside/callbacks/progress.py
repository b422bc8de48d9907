"""`ProgressBar`: a bar per phase on a terminal, and one printed row per epoch."""

from __future__ import annotations

import sys
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
    """Shows a progress bar over batches when `file` is a terminal, and prints each epoch's row.

    `bar=None` decides by `file.isatty()`; the bar is never drawn into logs or pipes.
    `rows=False` silences the per-epoch table.
    """

    order = 60
    during_lr_find = False

    def __init__(self, bar: bool | None = None, rows: bool = True, file: TextIO | None = None):
        self.bar, self.rows, self.file = bar, rows, file
        self._pbar: Any = None

    def _out(self) -> TextIO:
        return self.file or sys.stdout

    def before_fit(self, learn: Learner) -> None:
        self._header_done = False
        self._bar_on = self.bar if self.bar is not None else self._out().isatty()

    def _open(self, learn: Learner, phase: str) -> None:
        if self._bar_on:
            from tqdm.auto import tqdm

            desc = f"epoch {learn.epoch + 1}/{learn.n_epochs} {phase}"
            self._pbar = tqdm(total=learn.n_iter, desc=desc, leave=False, file=self._out())

    def _close(self, learn: Learner) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None

    def before_train(self, learn: Learner) -> None:
        self._open(learn, "train")

    def before_validate(self, learn: Learner) -> None:
        self._open(learn, "valid")

    def after_batch(self, learn: Learner) -> None:
        if self._pbar is not None:
            self._pbar.update(1)

    after_train = _close
    after_validate = _close

    def after_epoch(self, learn: Learner) -> None:
        stats = learn.find_cb(AvgStats)
        if not self.rows or stats is None or not stats.history:
            return
        row = stats.history[-1].row()
        out = self._out()
        if not self._header_done:
            print(format_row(row, header=True), file=out)
            self._header_done = True
        print(format_row(row), file=out, flush=True)

    def after_fit(self, learn: Learner) -> None:
        self._close(learn)
