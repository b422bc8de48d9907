"""`Recorder`: the training loss and every parameter group's learning rate, step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..callback import Callback
from ..tensorlog import DeviceLog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..learner import Learner


def group_hypers(group: dict[str, Any]) -> dict[str, float]:
    """The scalar hyper-parameters of a parameter group; Adam's betas as `momentum`, `sqr_mom`."""
    out = {
        k: float(v)
        for k, v in group.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if "betas" in group:
        out["momentum"], out["sqr_mom"] = (float(b) for b in group["betas"])
    return out


class Recorder(Callback):
    """Records each training step's loss (on the device, read when asked) and every
    hyper-parameter of every parameter group (lr, momentum, weight decay, ...).

    `losses` is a float32 array of shape (steps,); `lrs` and `hyper(name)` have shape
    (steps, groups).
    """

    order = 50
    during_lr_find = False

    def __init__(self) -> None:
        self._losses = DeviceLog()
        self._hypers: list[list[dict[str, float]]] = []  # per step, per group
        self._prior_losses = np.zeros(0, np.float32)  # the resumed steps, kept on the host

    def before_fit(self, learn: Learner) -> None:
        self._losses = DeviceLog()
        self._hypers, self._prior_losses = [], np.zeros(0, np.float32)

    def state_dict(self) -> dict[str, Any]:
        """The steps so far, as plain data (for checkpoints)."""
        return {"losses": torch.from_numpy(self.losses.copy()), "hypers": list(self._hypers)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: the fit goes on from these steps (a state that is not
        what `state_dict` writes raises ValueError)."""
        losses, hypers = state["losses"], state["hypers"]
        if not (isinstance(losses, torch.Tensor) and losses.ndim == 1 and isinstance(hypers, list)
                and len(hypers) == len(losses)):  # fmt: skip
            raise ValueError("the recorder's state is not one loss and one lr per step")
        self._prior_losses = losses.numpy().astype(np.float32)
        self._hypers = list(hypers)

    def after_batch(self, learn: Learner) -> None:
        if not learn.training or learn.loss is None or learn.opt is None:
            return
        self._losses.append(learn.loss)
        self._hypers.append([group_hypers(g) for g in learn.opt.param_groups])

    @property
    def losses(self) -> np.ndarray:
        """Training loss per step, shape (steps,)."""
        return np.concatenate([self._prior_losses, self._losses.numpy()])

    @property
    def lrs(self) -> np.ndarray:
        """Learning rate per step and parameter group, shape (steps, groups)."""
        return self.hyper("lr")

    def hyper(self, name: str) -> np.ndarray:
        """Any recorded hyper-parameter per step and parameter group, shape (steps, groups)."""
        values = [[g.get(name, np.nan) for g in step] for step in self._hypers]
        return np.asarray(values, dtype=np.float64).reshape(len(values), -1)

    def scheduled(self) -> list[str]:
        """The hyper-parameters whose value changed during the fit."""
        names = dict.fromkeys(k for step in self._hypers for g in step for k in g)
        return [n for n in names if np.ptp(np.nan_to_num(self.hyper(n)), axis=0).max(initial=0) > 0]

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
        return self._plot_hyper("lr", ax)

    def plot_sched(self, names: list[str] | None = None) -> Figure:
        """One panel per scheduled hyper-parameter (default: every one that changed)."""
        from matplotlib.figure import Figure

        names = names or self.scheduled() or ["lr"]
        fig = Figure(figsize=(4 * len(names), 3.2), layout="constrained")
        for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names, strict=True):
            self._plot_hyper(name, ax)
        return fig

    def _plot_hyper(self, name: str, ax: Axes | None) -> Figure:
        from ..plots import new_axes

        fig, ax = new_axes(ax)
        values = self.hyper(name)
        for group in range(values.shape[1]):
            ax.plot(values[:, group], label=f"group {group}")
        if values.shape[1] > 1:
            ax.legend()
        ax.set(xlabel="step", ylabel="learning rate" if name == "lr" else name)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() == finite.max():  # constant: say so, on an axis
            value = float(finite[0])  # from 0, not a magnified ±5 % around it
            ax.set_ylim(min(0.0, value * 1.2), max(0.0, value * 1.2) or 1.0)
            ax.set_title(f"constant {name} {value:g}")
        return fig
