"""`CSVLogger`: one row per epoch in a CSV file, rewritten atomically after each epoch;
`read_epochs` reads such a file back."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..callback import Callback
from ..errors import LookinsideError
from ..files import atomic_write_text
from .avg_stats import AvgStats

if TYPE_CHECKING:
    from ..learner import Learner


class CSVLogger(Callback):
    """Writes `learn.avg_stats.history` to `path` (columns: epoch, train_loss, ..., seconds).

    The file is replaced whole after each epoch, so a crash never leaves a torn row.
    """

    order = 92  # after Checkpoint (90): a row on disk means its epoch's checkpoint is too
    during_lr_find = False

    def __init__(self, path: str | os.PathLike[str] = "metrics.csv") -> None:
        self.path = Path(path)

    def after_epoch(self, learn: Learner) -> None:
        stats = learn.find_cb(AvgStats)
        if stats is None or not stats.history:
            return
        rows = [s.row() for s in stats.history]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())

    def __repr__(self) -> str:
        return f"CSVLogger({str(self.path)!r})"


def read_epochs(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The rows of a file `CSVLogger` wrote, as numbers (empty cells left out); [] when the
    file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with path.open(newline="") as f:
            return [{k: float(v) for k, v in row.items() if k and v} for row in csv.DictReader(f)]
    except (OSError, ValueError, csv.Error) as e:
        raise LookinsideError(f"{path} does not hold one row of numbers per epoch ({e}).") from None
