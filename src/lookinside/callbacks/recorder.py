"""`Recorder`: the training loss and every parameter group's learning rate, step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..callback import Callback
from ..tensorlog import DeviceLog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..learner import Learner


class Recorder(Callback):
    """Records each training step's loss (on the device, read when asked) and lrs (per group).

    `losses` is a float32 array of shape (steps,); `lrs` has shape (steps, groups).
    """

    order = 50

    def __init__(self) -> None:
        self._losses = DeviceLog()
        self._lrs: list[list[float]] = []

    def before_fit(self, learn: Learner) -> None:
        self._losses = DeviceLog()
        self._lrs = []

    def after_batch(self, learn: Learner) -> None:
        if not learn.training or learn.loss is None or learn.opt is None:
            return
        self._losses.append(learn.loss)
        self._lrs.append([float(g["lr"]) for g in learn.opt.param_groups])

    @property
    def losses(self) -> np.ndarray:
        """Training loss per step, shape (steps,)."""
        return self._losses.numpy()

    @property
    def lrs(self) -> np.ndarray:
        """Learning rate per step and parameter group, shape (steps, groups)."""
        return np.asarray(self._lrs, dtype=np.float64).reshape(len(self._lrs), -1)

    def plot_loss(self, ax: Axes | None = None, skip_start: int = 0) -> Figure:
        """The training loss per step."""
        from ..plots import new_axes

        fig, ax = new_axes(ax)
        losses = self.losses
        ax.plot(np.arange(skip_start, len(losses)), losses[skip_start:], lw=1)
        ax.set(xlabel="step", ylabel="training loss")
        return fig

    def plot_lr(self, ax: Axes | None = None) -> Figure:
        """The learning rate per step, one line per parameter group."""
        from ..plots import new_axes

        fig, ax = new_axes(ax)
        lrs = self.lrs
        for group in range(lrs.shape[1]):
            ax.plot(lrs[:, group], label=f"group {group}")
        if lrs.shape[1] > 1:
            ax.legend()
        ax.set(xlabel="step", ylabel="learning rate")
        return fig
