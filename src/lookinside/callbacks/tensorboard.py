"""`TensorBoardCallback`: losses, metrics, learning rates and the activation histograms, for
TensorBoard users (`pip install lookinside[tensorboard]`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..callback import Callback
from ..errors import LookinsideError
from .activation_stats import ActivationStats
from .avg_stats import AvgStats
from .recorder import Recorder

if TYPE_CHECKING:
    from ..learner import Learner


class TensorBoardCallback(Callback):
    """Writes event files into `log_dir` once per epoch (nothing is read in the batch loop).

    Scalars: `train/loss` and `train/lr_<group>` per step (from the `Recorder`), every
    `AvgStats` value per epoch (`epoch/valid_accuracy`, ...). With `ActivationStats`, each
    layer's histogram at the last recorded step of the epoch (`activations/<layer>`), and its
    mean, std and near-zero share per recorded step.
    """

    order = 80  # after AvgStats and ActivationStats have their epoch's numbers
    during_lr_find = False

    def __init__(self, log_dir: str | os.PathLike[str] = "runs/tensorboard") -> None:
        self.log_dir = Path(log_dir)
        self._writer: Any = None

    def before_fit(self, learn: Learner) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            raise LookinsideError(
                "TensorBoardCallback needs the tensorboard package: "
                "pip install 'lookinside[tensorboard]'."
            ) from None
        self._writer = SummaryWriter(str(self.log_dir))
        self._steps_done = 0
        self._telemetry_done = 0

    def after_epoch(self, learn: Learner) -> None:
        w = self._writer
        recorder = learn.find_cb(Recorder)
        if recorder is not None:
            losses, lrs = recorder.losses, recorder.lrs
            for step in range(self._steps_done, len(losses)):
                w.add_scalar("train/loss", float(losses[step]), step)
                for g, lr in enumerate(lrs[step]):
                    w.add_scalar(f"train/lr_{g}", float(lr), step)
            self._steps_done = len(losses)
        stats = learn.find_cb(AvgStats)
        if stats is not None and stats.last is not None:
            for name, value in stats.last.values.items():
                w.add_scalar(f"epoch/{name}", value, learn.epoch)
        activation_stats = learn.find_cb(ActivationStats)
        if activation_stats is not None:
            self._log_telemetry(activation_stats)
        w.flush()

    def _log_telemetry(self, activation_stats: ActivationStats) -> None:
        t = activation_stats.telemetry
        new = slice(self._telemetry_done, len(t.steps))
        if new.start >= new.stop:
            return
        for layer in t:
            for step, mean, std, near in zip(layer.steps[new], layer.mean[new], layer.std[new],
                                              layer.near_zero[new], strict=True):  # fmt: skip
                self._writer.add_scalar(f"activations_mean/{layer.name}", mean, int(step))
                self._writer.add_scalar(f"activations_std/{layer.name}", std, int(step))
                if np.isfinite(near):  # measured at the detailed steps only
                    self._writer.add_scalar(f"activations_near_zero/{layer.name}", near, int(step))
            measured = np.flatnonzero(np.isfinite(layer.hist[new]).all(1))
            if not len(measured):
                continue
            last = new.start + int(measured[-1])
            counts = layer.hist[last]
            edges = np.linspace(layer.spec.lo, layer.spec.hi, len(counts) + 1)
            centres = (edges[:-1] + edges[1:]) / 2
            total = float(counts.sum())
            if total > 0:
                self._writer.add_histogram_raw(
                    f"activations/{layer.name}", min=float(edges[0]), max=float(edges[-1]),
                    num=total, sum=float((counts * centres).sum()),
                    sum_squares=float((counts * centres**2).sum()),
                    bucket_limits=edges[1:].tolist(), bucket_counts=counts.tolist(),
                    global_step=int(layer.steps[last]),
                )  # fmt: skip
        self._telemetry_done = new.stop

    def after_fit(self, learn: Learner) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
