"""`ActivationStats`: the `watch` telemetry for a `Learner`'s fits, plus its plots and diagnosis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..callback import Callback
from ..telemetry import Telemetry
from ..watcher import Watcher
from .avg_stats import AvgStats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..diagnosis import Finding
    from ..learner import Learner


def saved_telemetry(state: dict[str, Any]) -> Telemetry | None:
    """The record an `ActivationStats.state_dict()` holds (in a checkpoint), or None when it
    was saved before anything was recorded."""
    arrays = {k: v.numpy() if isinstance(v, torch.Tensor) else np.array(v)
              for k, v in state.items() if k != "watch_every"}  # fmt: skip
    return Telemetry.from_arrays(arrays, "the checkpoint's telemetry") if arrays else None


class ActivationStats(Callback):
    """Records per-layer activation statistics at the training steps of each fit (every step
    at first, then as often as costs under 5 % of a step: `every="auto"`, see `watch_rate`).

    Takes the options of `Watcher` (modules, every, grads, params, hist_sample, max_steps).
    After the fit, `telemetry` holds the record, `diagnose()` reads it, and the `plot_*`
    methods draw it. Costs no host-device synchronisation in the batch loop.
    """

    order = 30
    during_lr_find = False

    def __init__(
        self,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
        **watch_options: Any,
    ) -> None:
        self.modules, self.options = modules, watch_options
        self._watcher: Watcher | None = None
        self._telemetry: Telemetry | None = None
        self._prior: Telemetry | None = None  # the record of the epochs before a resume
        self._first_step = 0  # the fit's first step (a resumed fit's steps go on counting)
        self.epochs: list[dict[str, float]] = []  # each finished epoch's losses, for diagnose

    def before_fit(self, learn: Learner) -> None:
        self._telemetry, self._prior, self._first_step = None, None, learn.train_iter
        self._watch(learn.model, {})

    def _watch(self, model: nn.Module, resumed: dict[str, Any]) -> None:
        """Start the watcher (again, before its first step, when a fit resumes: with the
        `resumed` record's recording rate and histogram ranges, so that the two parts join)."""
        if self._watcher is not None:
            self._watcher.remove()
        options = {"first_step": self._first_step, **self.options, **resumed}
        self._watcher = Watcher(model, self.modules, **options)

    # A `CudaGraph` captures the watcher's hooks with the step; these keep the record exact.
    def on_capture_start(self) -> None:
        """See `Watcher.on_capture_start`."""
        if self._watcher is not None:
            self._watcher.on_capture_start()

    def on_capture_end(self) -> None:
        """See `Watcher.on_capture_end`."""
        if self._watcher is not None:
            self._watcher.on_capture_end()

    def on_replay(self) -> None:
        """See `Watcher.on_replay`."""
        if self._watcher is not None:
            self._watcher.on_replay()

    def after_batch(self, learn: Learner) -> None:
        # After the step (a replayed CUDA graph's too), while the watcher's step is open.
        if learn.training and self._watcher is not None and learn.loss is not None:
            self._watcher.record_loss(learn.loss)

    def after_fit(self, learn: Learner) -> None:
        stats = learn.find_cb(AvgStats)
        self.epochs = [dict(e.values) for e in stats.history] if stats is not None else []
        if self._watcher is not None:
            try:
                self._telemetry = self._joined(self._watcher.telemetry)
            finally:
                self._watcher.remove()
                self._watcher = None

    def _joined(self, telemetry: Telemetry) -> Telemetry:
        return self._prior.then(telemetry) if self._prior is not None else telemetry

    def state_dict(self) -> dict[str, Any]:
        """The record so far, as tensors and plain data (for checkpoints)."""
        watcher = self._watcher
        every = watcher.resume_every if watcher is not None else self.options.get("every", "auto")
        state: dict[str, Any] = {"watch_every": every}
        if not self.has_telemetry:  # stopped before anything was recorded (a Ctrl-C as the
            return state  # fit starts)
        for key, value in self.telemetry.arrays().items():
            if value.dtype.kind == "U":  # text: the specs and meta as JSON, the field names
                state[key] = str(value) if value.ndim == 0 else [str(v) for v in value]
            else:
                state[key] = torch.from_numpy(np.array(value))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint (after `before_fit`): the fit's record follows this one."""
        every = state.get("watch_every", 0)  # an int, or "auto" when cut while choosing
        resumed: dict[str, Any] = {"every": every} if every else {}
        self._prior = saved_telemetry(state)
        if self._prior is not None:
            resumed["ranges"] = {s.name: (s.lo, s.hi) for s in self._prior.specs}
        if self._watcher is not None:
            self._watch(self._watcher.model, resumed)

    @property
    def has_telemetry(self) -> bool:
        """Whether anything was recorded (a fit ran)."""
        return self._watcher is not None or self._telemetry is not None

    @property
    def telemetry(self) -> Telemetry:
        """The last fit's record (during a fit: everything so far)."""
        if self._watcher is not None:
            return self._joined(self._watcher.telemetry)
        if self._telemetry is None:
            raise RuntimeError("ActivationStats has recorded nothing yet: call fit first.")
        return self._telemetry

    def diagnose(self) -> list[Finding]:
        """The diagnosis of the recorded telemetry (see `lookinside.diagnosis`)."""
        from ..diagnosis import diagnose

        return diagnose(self.telemetry, self.epochs)

    def plot_means_stds(self, first: int | None = None) -> Figure:
        """Each layer's activation mean and std per step."""
        from ..telemetry_plots import plot_means_stds

        return plot_means_stds(self.telemetry, first)

    def plot_hists(self) -> Figure:
        """The colorful dimension of every layer."""
        from ..telemetry_plots import plot_hists

        return plot_hists(self.telemetry)

    def plot_near_zero(self) -> Figure:
        """Each layer's near-zero fraction per step."""
        from ..telemetry_plots import plot_near_zero

        return plot_near_zero(self.telemetry)
