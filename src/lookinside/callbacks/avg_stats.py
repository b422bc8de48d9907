"""`AvgStats`: loss and metrics averaged over each epoch, accumulated on the device."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..callback import Callback, snake_name
from ..distributed import sum_over_ranks

if TYPE_CHECKING:
    from ..learner import Learner


def metric_name(fn: Callable[..., Any]) -> str:
    """A metric's column name: the function's name, or a callable object's class in snake_case."""
    inner = getattr(fn, "func", fn)  # functools.partial
    name = getattr(inner, "__name__", None)
    return name if isinstance(name, str) else snake_name(type(inner).__name__)


def batch_size(yb: Any) -> int:
    """The number of items in a batch of targets (known on the host: no synchronisation)."""
    first = yb[0] if isinstance(yb, (tuple, list)) else yb
    return int(first.shape[0]) if isinstance(first, Tensor) else len(first)


@dataclass
class EpochStats:
    """One epoch's averages: `values` holds `train_loss`, `valid_loss`, `valid_<metric>`, ..."""

    epoch: int
    seconds: float
    values: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, float]:
        """A flat row for tables and CSV: epoch, the values, seconds."""
        return {"epoch": self.epoch, **self.values, "seconds": self.seconds}


def _as_float_tensor(value: Any, device: torch.device) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().float()
    return torch.tensor(float(value), device=device)


class _PhaseSums:
    """Sums of (value × batch size) on the device, and the item count on the host."""

    def __init__(self) -> None:
        self.sums: Tensor | None = None
        self.count = 0

    def add(self, values: list[Any], n: int) -> None:
        device = values[0].device
        if len(values) == 1:  # the loss alone: one kernel a batch
            batch = values[0].detach().float().view(1)
        else:
            batch = torch.stack([_as_float_tensor(v, device) for v in values])
        if self.sums is None:
            self.sums = batch * n
        else:
            self.sums.add_(batch, alpha=n)
        self.count += n

    def totals(self, k: int, device: torch.device) -> Tensor:
        """(k sums, count) as one vector: what the ranks add up under torch.distributed."""
        sums = self.sums if self.sums is not None else torch.zeros(k, device=device)
        return torch.cat([sums.to(device), torch.tensor([float(self.count)], device=device)])


class AvgStats(Callback):
    """Averages the loss (and `learn.metrics`) over each phase, weighted by batch size.

    Sums stay on the device during the epoch; `after_epoch` reads them with one transfer,
    appends an `EpochStats` to `history`. Metrics run on validation batches, and on training
    batches too with `train_metrics=True`.
    """

    order = 40
    during_lr_find = False

    def __init__(self, train_metrics: bool = False) -> None:
        self.train_metrics = train_metrics
        self.history: list[EpochStats] = []
        self._train: _PhaseSums | None = None  # sums of the epoch in progress

    def before_fit(self, learn: Learner) -> None:
        self.history = []

    def state_dict(self) -> dict[str, Any]:
        """The epochs so far, as plain data (for checkpoints)."""
        return {"history": [dataclasses.asdict(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: the fit goes on from these epochs."""
        self.history = [EpochStats(**h) for h in state["history"]]

    def before_epoch(self, learn: Learner) -> None:
        self._start = time.perf_counter()
        self._train = _PhaseSums()
        self._valid = _PhaseSums()

    def running(self, training: bool) -> float | None:
        """The mean loss of the phase so far (None before its first batch): one host read,
        for a callback that asks (the progress bar, every few seconds)."""
        sums = self._train if training else getattr(self, "_valid", None)
        if sums is None or sums.sums is None or not sums.count:
            return None
        return float(sums.sums[0]) / sums.count

    def after_batch(self, learn: Learner) -> None:
        if learn.loss is None or self._train is None:  # cancelled before the loss existed
            return
        values: list[Any] = [learn.loss]
        if not learn.training or self.train_metrics:
            values += [m(learn.pred, learn.yb) for m in learn.metrics]
        (self._train if learn.training else self._valid).add(values, batch_size(learn.yb))

    def after_epoch(self, learn: Learner) -> None:
        if self._train is None or learn.epoch_failed:  # stopped before this epoch began, or
            self._train = None  # an error stopped it: no epoch to record
            return
        names = [metric_name(m) for m in learn.metrics]
        train_names = ["train_loss"] + ([f"train_{n}" for n in names] if self.train_metrics else [])
        valid_names = ["valid_loss"] + [f"valid_{n}" for n in names]
        sums = self._train.sums if self._train.sums is not None else self._valid.sums
        device = sums.device if sums is not None else torch.device("cpu")
        k = len(train_names)
        packed = torch.cat(
            [self._train.totals(k, device), self._valid.totals(len(valid_names), device)]
        )
        numbers = sum_over_ranks(packed).tolist()  # the one host transfer of the epoch
        train_n, valid_n = numbers[k], numbers[-1]
        means = [x / train_n if train_n else math.nan for x in numbers[:k]]
        if valid_n:
            means += [x / valid_n for x in numbers[k + 1 : -1]]
        else:
            valid_names = []
        values = dict(zip(train_names + valid_names, means, strict=True))
        self.history.append(EpochStats(learn.epoch, time.perf_counter() - self._start, values))
        self._train = None

    def _repr_html_(self) -> str:
        """The epoch table, for notebooks."""
        if not self.history:
            return "<p>AvgStats: no epoch yet</p>"
        rows = [s.row() for s in self.history]
        head = "".join(f"<th>{escape(k)}</th>" for k in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{v:.4g}</td>" for v in r.values()) + "</tr>" for r in rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    @property
    def last(self) -> EpochStats | None:
        """The latest epoch's stats, or None before the first epoch ends."""
        return self.history[-1] if self.history else None
