"""`Monitored`: a number an epoch's `AvgStats` holds (`valid_loss`, `valid_accuracy`, ...),
watched for improvement by `EarlyStopping` and `SaveBest`. A name the fit does not record is
an error, never a silent no-op."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..callback import Callback
from ..errors import LookinsideError
from .avg_stats import AvgStats

if TYPE_CHECKING:
    from ..learner import Learner


class Monitored:
    """`name`'s best value so far: lower is better unless `mode="max"` (default: max for
    names containing "accuracy"); an improvement beats the best by more than `min_delta`."""

    def __init__(self, owner: str, name: str, mode: str | None, min_delta: float) -> None:
        if mode not in (None, "min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}.")
        self.owner, self.name, self.min_delta = owner, name, min_delta
        self.mode = mode or ("max" if "accuracy" in name else "min")
        self.best: float | None = None

    def value(self, learn: Learner) -> float | None:
        """The epoch's value (None when the epoch stopped before it had numbers)."""
        stats = learn.find_cb(AvgStats)
        if stats is None:
            raise LookinsideError(f"{self.owner} reads the epoch's numbers from AvgStats, "
                                  "which this learner does not have.")  # fmt: skip
        if stats.last is None or stats.last.epoch != learn.epoch:
            return None
        if self.name not in stats.last.values:
            names = ", ".join(stats.last.values)
            raise LookinsideError(f"{self.owner} monitors {self.name!r}, which this fit does "
                                  f"not record; it records: {names}.")  # fmt: skip
        return stats.last.values[self.name]

    def improved(self, value: float) -> bool:
        """Whether `value` improves on the best (which it then becomes)."""
        sign = 1.0 if self.mode == "min" else -1.0
        if self.best is None or sign * (self.best - value) > self.min_delta:
            self.best = value
            return True
        return False


class SaveBest(Callback):
    """Saves the weights (`learn.save`) to `path` each time `monitor` improves, so that the
    file holds the best epoch's; `best_epoch` says which. Load them with `learn.load(path)`."""

    order = 85  # after AvgStats has the epoch's numbers, before Checkpoint (90) saves its state

    def __init__(self, path: str | os.PathLike[str], monitor: str = "valid_loss",
                 mode: str | None = None, min_delta: float = 0.0) -> None:  # fmt: skip
        self.path = Path(path)
        self.monitored = Monitored("SaveBest", monitor, mode, min_delta)
        self.best_epoch: int | None = None

    def before_fit(self, learn: Learner) -> None:
        self.monitored.best, self.best_epoch = None, None

    def after_epoch(self, learn: Learner) -> None:
        value = self.monitored.value(learn)
        if value is not None and self.monitored.improved(value):
            learn.save(self.path)
            self.best_epoch = learn.epoch

    def state_dict(self) -> dict[str, Any]:
        """The best value and its epoch (for checkpoints: a resumed fit saves only better)."""
        return {"best": self.monitored.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitored.best, self.best_epoch = state["best"], state["best_epoch"]

    def __repr__(self) -> str:
        return f"SaveBest({str(self.path)!r}, monitor={self.monitored.name!r})"
