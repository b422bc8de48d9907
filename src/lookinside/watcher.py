"""`watch(model)`: per-layer telemetry for any training loop, at almost no cost.

    with li.watch(model) as w:
        for xb, yb in batches:
            loss = loss_func(model(xb), yb)
            w.record_loss(loss)      # optional: lets the diagnosis read the loss curve
            ...                      # backward, step
    w.report()                       # or li.diagnose(w.telemetry), w.telemetry["fc"].std

Every forward of the root model in training mode with gradients enabled is one step; other
forwards (evaluation, `torch.no_grad()`) are not recorded. A module called several times in
one step keeps its last call. At each recorded step, hooks measure on the device, without
reading anything on the host (see `watch_stats`): each watched module's outputs (every float
tensor inside a tuple, list or dict, named by its place), the model's input and output, each
output's gradient, and each module's parameter norm after the optimizer's step. The numbers go
into a device buffer that moves to the host a chunk of steps at a time (`watch_buffer`).

Which modules: by default the model's blocks (see `watch_layers.default_modules`).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .distributed import unwrap
from .telemetry import Telemetry
from .watch_buffer import AWAITED, StepBuffer, StepRows
from .watch_layers import (
    INPUT,
    OUTPUT,
    LayerRegistry,
    default_modules,
    first_batch_norm,
    model_facts,
    tensors_in,
)
from .watch_stats import PNORM, detail_columns, gradient_stats, output_stats, parameter_norm
from .watch_training import OptimizerSpy, loss_name

__all__ = ["BINS", "Watcher", "default_modules", "loss_name", "watch"]

BINS = 40


class Watcher:
    """Hooks on the watched modules and the buffer they fill; see this module's docstring.

    Args:
        model: the root module; each of its training forwards is a step.
        modules: the modules to watch (default: `default_modules(model)`), as modules or
            (name, module) pairs.
        every: record every `every`-th step.
        grads: also record each output's gradient (a hook on the output tensor).
        params: also record each watched module's parameter norm after each recorded step.
        hist_sample: the most values per layer and step that go into the histogram and the
            sampled shares (None: all of them).
        detail: measure the details (histogram, units, shares, the gradients' Σg² and zeros,
            parameter norms) at every `detail`-th recorded step, the first included; the
            sums, which give means, stds and non-finite values, at every recorded step.
        max_steps: the most recorded steps kept on the host (older ones are thinned).
        chunk: recorded steps buffered on the device between transfers.
        first_step: the number of the first step (a resumed run continues its numbering).
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
        every: int = 1,
        grads: bool = True,
        params: bool = True,
        hist_sample: int | None = 4096,
        detail: int = 4,
        max_steps: int = 4096,
        chunk: int = 256,
        bins: int = BINS,
        first_step: int = 0,
    ) -> None:
        if every < 1 or detail < 1 or max_steps < 2 or chunk < 1:
            raise ValueError("every, detail and chunk must be at least 1, max_steps at least 2.")
        model = unwrap(model)  # watch the module inside a DistributedDataParallel
        names = {id(m): n for n, m in model.named_modules()}
        named = [
            m if isinstance(m, tuple) else (names.get(id(m), type(m).__name__), m)
            for m in (modules if modules is not None else default_modules(model))
        ]
        self.model = model
        self._every, self.grads, self.params = every, grads, params
        self.hist_sample, self.detail, self.bins = hist_sample, detail, bins
        self.layers = LayerRegistry(named)
        self._buffer = StepBuffer(bins, chunk, max_steps)
        self.meta: dict[str, Any] = model_facts(model)
        self._step = first_step  # training forwards seen (and, resuming, done before)
        self._recorded = 0  # recorded steps so far
        self._recording = False
        self._detailed = False  # this step measures the details too
        self._seen: dict[int, tuple[Any, int]] = {}  # id of a tensor recorded this forward ->
        # (a weak reference to it, its layer): the model's output is matched against these
        self._norms: list[int] = []  # positions of this step's modules, for their norms
        self._eager = StepRows(bins)  # the step in progress
        self._graph = StepRows(bins)  # what a captured CUDA graph's step writes, each replay
        self._rows = self._eager
        self._captured_counts = np.zeros((0, 0))  # the captured step's counts
        self._optimizers = OptimizerSpy(model)
        self._handles = [model.register_forward_pre_hook(self._before_forward)]
        try:
            for i, m in enumerate(self.layers.modules):
                self._handles.append(m.register_forward_hook(self._make_forward(i)))
            self._handles.append(model.register_forward_hook(self._after_forward))
            batch_norm = first_batch_norm(model)
            if batch_norm is not None:
                self._handles.append(batch_norm.register_forward_pre_hook(self._norm_batch))
        except BaseException:
            self.remove()
            raise

    @property
    def every(self) -> int:
        """The recording interval now (it doubles each time the host record is thinned)."""
        return self._every * self._buffer.rate

    # ------------------------------------------------------------------ recording
    def _before_forward(self, module: nn.Module, args: Any) -> None:
        self._commit()  # the previous step is over, whatever this forward is
        if self._rows is self._graph:  # capturing: counted at each replay (`on_replay`)
            self._recording = self._detailed = True
        elif module.training and torch.is_grad_enabled():
            self._start_step()
        if self._recording:
            x = next((t for _, t in tensors_in(args) if t.is_floating_point()), None)
            if x is not None and x.numel():
                self._record(INPUT, "", x, "input")

    def _norm_batch(self, module: nn.Module, args: Any) -> None:
        """Note the items a BatchNorm normalises over in training (its input's first axis),
        once: the diagnosis warns when they are too few for its statistics."""
        x = args[0] if args and isinstance(args[0], Tensor) else None
        if module.training and x is not None and x.ndim and "norm_batch" not in self.meta:
            self.meta["norm_batch"] = {"items": int(x.shape[0]), "layer": type(module).__name__}

    def _start_step(self) -> None:
        """A training step begins: is it recorded, with details?"""
        self._recording = self._step % self.every == 0
        self._step += 1
        if self._recording:
            self._detailed = self._recorded % self.detail == 0
            self._recorded += 1

    def _make_forward(self, position: int) -> Any:
        def on_forward(module: nn.Module, args: Any, out: Any) -> None:
            if not self._recording:
                return
            if isinstance(out, Tensor):  # the common case, without walking a structure
                recorded = out.is_floating_point() and out.numel() > 0
                if recorded:
                    self._record(position, "", out, "layer", args)
            else:
                recorded = False
                for path, x in tensors_in(out):
                    if x.is_floating_point() and x.numel():
                        self._record(position, path, x, "layer", args)
                        recorded = True
            self.layers.called(position, out, recorded)

        return on_forward

    def _after_forward(self, module: nn.Module, args: Any, out: Any) -> None:
        if not self._recording:
            return
        recorded = False
        for path, x in tensors_in(out):
            if not x.is_floating_point() or not x.numel():
                continue
            recorded = True
            if "outputs" not in self.meta:
                self.meta["outputs"] = int(x.shape[-1]) if x.ndim else 1
            seen = self._seen.get(id(x))
            if seen is not None and seen[0]() is x:  # the same tensor, not a recycled id
                self.layers.is_output(seen[1])
            else:
                self._record(OUTPUT, path, x, "output")
        if not recorded:
            self.layers.called(OUTPUT, out, recorded)
        self._seen.clear()

    def _record(self, position: int, path: str, x: Tensor, role: str, args: Any = ()) -> None:
        layer = self.layers.layer(position, path, x, role, args)
        rows = self._rows
        out = rows.of(layer, len(self.layers.specs), x.device)
        counts = rows.counts[layer]
        light = not self._detailed or position == INPUT
        spec = self.layers.specs[layer]
        counts[0], counts[1], counts[2] = output_stats(x, out, spec, self.hist_sample, light)
        if self.params and self._detailed and self.layers.first.get(position) == layer:
            self._norms.append(position)
        self._seen[id(x)] = (weakref.ref(x), layer)
        if self.grads and x.requires_grad:
            counts[3] = AWAITED  # until the backward brings a gradient
            x.register_hook(self._make_gradient(rows, layer))  # type: ignore[no-untyped-call]

    def _make_gradient(self, rows: StepRows, layer: int) -> Any:
        detailed = self._detailed

        def on_gradient(g: Tensor) -> None:
            out = rows.views[layer]
            rows.counts[layer, 3:5] = gradient_stats(g, out, self.hist_sample, detailed)

        return on_gradient

    def record_loss(self, loss: Tensor) -> None:
        """Record this step's training loss, on the device (no host read); the diagnosis then
        reads the loss curve too. Call it after the forward, in training steps only."""
        if not self._recording:
            return
        inf = float("inf")  # a NaN loss is kept as inf: NaN means "not recorded"
        value = torch.nan_to_num(loss.detach().reshape(()), nan=inf, posinf=inf, neginf=-inf)
        self._rows.loss_cell(loss.device).copy_(value)
        self.meta.setdefault("loss", loss_name(loss))

    def _commit(self) -> None:
        """Close the step in progress: parameter norms, then file it."""
        positions, self._norms = self._norms, []
        self._seen.clear()
        if not self._recording or self._rows is self._graph:
            self._recording = False
            return
        self._recording = False
        rows = self._eager
        for position in positions:
            ps = list(self.layers.modules[position].parameters())
            if ps:
                out = rows.of(self.layers.first[position], len(self.layers.specs), ps[0].device)
                parameter_norm(ps, out[PNORM])
        rows.file(self._buffer, self._step - 1)

    # ------------------------------------------------------------------ CUDA graphs
    def on_capture_start(self) -> None:
        """A CUDA graph is about to capture a training step: the hooks will write into rows
        of their own, which each replay of the graph fills again."""
        self._commit()
        self._rows = self._graph

    def on_capture_end(self) -> None:
        """The capture is over; it was no step of its own (its replays are)."""
        self._recording = False
        self._rows = self._eager
        self._captured_counts = self._graph.counts.copy()
        self._norms = []
        self._seen.clear()

    def on_replay(self) -> None:
        """The captured step ran once more, filling its rows: count it, and if it is recorded
        open it with a copy of them (the details an eager step would have measured), so that
        the loss recorded after the batch joins it; the next step files it."""
        self._commit()
        self._start_step()
        if not self._recording or self._graph.rows is None:
            self._recording = False
            return
        rows = self._eager
        rows.take(self._graph, self._captured_counts)
        if self.params and self._detailed:
            self._norms = sorted(self.layers.first)
        elif not self._detailed:
            assert rows.rows is not None
            rows.rows[:, detail_columns(self.bins)] = float("nan")
            rows.counts[:, [1, 2, 4]] = 0  # sampled values, units, sampled gradient values

    # ------------------------------------------------------------------ results
    @property
    def telemetry(self) -> Telemetry:
        """Everything recorded so far (reading it waits for transfers in flight)."""
        self._commit()
        steps, values, hist, losses = self._buffer.arrays()
        named = list(zip(self.layers.names, self.layers.modules, strict=True))
        meta = {
            **self.meta,
            **self._optimizers.facts,
            "every": self.every,
            "hist_sample": self.hist_sample,
            "not_in_optimizer": self._optimizers.left_out(named),
            "not_recorded": self.layers.not_recorded() if len(steps) else {},
        }
        return Telemetry(self.layers.final_specs(), steps, values, hist, losses, meta)

    def report(self) -> list[Any]:
        """Print the diagnosis of what was recorded and return its findings."""
        from .diagnosis import diagnose, format_findings

        findings = diagnose(self.telemetry)
        print(format_findings(findings))
        return findings

    # ------------------------------------------------------------------ lifetime
    def remove(self) -> None:
        """Remove every hook (idempotent); the recorded telemetry stays readable."""
        self._optimizers.remove()
        for h in self._handles:
            h.remove()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        modules = len(self.layers.modules)
        return f"Watcher({modules} modules, every={self.every}, {self._step} steps seen)"


def watch(
    model: nn.Module,
    modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
    **kwargs: Any,
) -> Watcher:
    """Watch `model`'s layers while any loop trains it; see `Watcher` for the options."""
    return Watcher(model, modules, **kwargs)
