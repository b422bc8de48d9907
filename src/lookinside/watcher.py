"""`watch(model)`: per-layer telemetry for any training loop, at almost no cost.

    with li.watch(model) as w:
        for xb, yb in batches:
            loss = loss_func(model(xb), yb)
            w.record_loss(loss)      # optional: lets the diagnosis read the loss curve
            ...                      # backward, step
    w.report()                       # or li.diagnose(w.telemetry), w.telemetry["fc"].std

Which forwards count: a forward of the root model in training mode with gradients enabled
belongs to a step; others (evaluation, `torch.no_grad()`) are not recorded. One optimizer step
is one step: every training forward between two steps of an optimizer holding the model's
parameters (a siamese pair, a weight-shared encoder, gradient accumulation) adds into the same
step; until the first optimizer step, and for a model that no optimizer steps, each training
forward is a step. A module called several times in a step records their aggregate: sums,
counts and histograms add up, the extremes are over all calls (`watch_stats.merge_rows`).

Which steps are recorded: by default (`every="auto"`) every step at first, then as often as
recording costs at most 5 % of a step, priced by timing the watcher's own steps
(`watch_rate`); the layers' hooks are attached only for recorded steps (`watch_hooks`), and
a recorded step's loss is the mean of the losses since the last one (`watch_loss`).

At each recorded step, hooks measure on the device, without reading anything on the host (see
`watch_stats`): each watched module's outputs (every float tensor inside a tuple, list or dict,
named by its place), the model's input and output, each output's gradient, and each module's
parameter norm after the optimizer's step. The numbers go into a device buffer that moves to
the host a chunk of steps at a time (`watch_buffer`). A step's cost hardly grows with the
modules: small outputs of one kind (shape, spec) are handed over by their hooks and measured
together when the forward ends, their gradients when the backward ends (`watch_gather`); the
parameter norms of all modules take a few kernels (`watch_stats.ParameterNorms`). With several
backwards through one forward (`retain_graph=True`), a gathered output's gradient is the
first backward's.

`torch.compile`: watch, then compile, or compile, then watch (the compiled module's layers are
watched). Inside a compiled model the layers' hooks are traced into its graph: they measure
every statistic at every step with tensor operations only, into rows of their own for each
forward (`watch_buffer.TracedRows`), and the bookkeeping (which step, recorded or not) runs
eagerly around the graph. When a compiled model first runs, `_see_layers` runs its forward
once more, eagerly, to register the layers; then every step runs one graph, compiled once.

Which modules: by default the model's blocks (see `watch_layers.default_modules`).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from .telemetry import Telemetry
from .unwrap import unwrap
from .watch_buffer import AWAITED, StepBuffer, StepRows, TracedRows
from .watch_compiled import called_from_compiled_code, eager, holds_compiled
from .watch_gather import Gathered
from .watch_hooks import LayerHooks
from .watch_layers import (
    INPUT,
    OUTPUT,
    LayerRegistry,
    default_modules,
    first_batch_norm,
    model_facts,
    tensors_in,
)
from .watch_loss import FoldedLoss
from .watch_rate import BUDGET, Every, RecordingRate
from .watch_stats import (
    GHOOKED,
    ParameterNorms,
    detail_columns,
    extent,
    gradient_into,
    gradient_rows,
    merge_rows,
    output_counts,
    output_into,
    output_rows,
)
from .watch_training import OptimizerSpy, loss_name

if TYPE_CHECKING:
    from .diagnosis import Findings

__all__ = ["BINS", "Watcher", "default_modules", "loss_name", "watch"]

BINS = 40


def _output_gradient(
    on_gradient: Callable[[Tensor], None], index: int
) -> Callable[[tuple[Tensor | None, ...]], None]:
    """A hook on a gradient node, before it runs, that hands `on_gradient` the gradient of
    its `index`-th output (when that output got one)."""

    def prehook(grads: tuple[Tensor | None, ...]) -> None:
        g = grads[index]
        if g is not None:
            on_gradient(g)

    return prehook


class Watcher:
    """Hooks on the watched modules and the buffer they fill; see this module's docstring.

    Args:
        model: the root module; each of its training forwards is a step.
        modules: the modules to watch (default: `default_modules(model)`), as modules or
            (name, module) pairs.
        every: record every `every`-th step, or "auto": every step at first, then as often
            as recording costs at most `budget` of a step (`watch_rate`).
        budget: with `every="auto"`, the share of an unwatched step's time that recording
            may cost (0.05: 5 %).
        grads: also record each output's gradient (a hook on the node that made the output,
            or autograd keeps it for the end of the backward: `watch_gather`).
        params: also record each watched module's parameter norm after each recorded step.
        hist_sample: the most values per layer and step that go into the sampled shares
            (at the floor, at the bounds); the histogram takes at most the first
            `watch_stats.HIST_VALUES` (1024) of them. None: all of them, for both.
        detail: measure the details (histogram, units, shares, the gradients' Σg² and zeros,
            parameter norms) at every `detail`-th recorded step, the first included; the
            sums, which give means, stds and non-finite values, at every recorded step.
        max_steps: the most recorded steps kept on the host (older ones are thinned).
        chunk: recorded steps buffered on the device between transfers.
        first_step: the number of the first step (a resumed run continues its numbering).
        ranges: histogram ranges by layer name, used instead of fitting one at first sight
            (a resumed run keeps its record's, so that its histograms join).
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
        every: Every = "auto",
        budget: float = BUDGET,
        grads: bool = True,
        params: bool = True,
        hist_sample: int | None = 4096,
        detail: int = 4,
        max_steps: int = 4096,
        chunk: int = 256,
        bins: int = BINS,
        first_step: int = 0,
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        if detail < 1 or max_steps < 2 or chunk < 1:
            raise ValueError("detail and chunk must be at least 1, max_steps at least 2.")
        self._rate = RecordingRate(every, budget, first_step, detail)
        model = unwrap(model)  # watch the module inside a DistributedDataParallel
        names = {id(m): n for n, m in model.named_modules()}
        named = [
            m if isinstance(m, tuple) else (names.get(id(m), type(m).__name__), m)
            for m in (modules if modules is not None else default_modules(model))
        ]
        self.model = model
        self.grads, self.params = grads, params
        self.hist_sample, self.detail, self.bins = hist_sample, detail, bins
        self.layers = LayerRegistry(named, ranges)
        self._buffer = StepBuffer(bins, chunk, max_steps)
        self.meta: dict[str, Any] = model_facts(model)
        self._step = first_step  # steps seen (and, resuming, done before)
        self._open = False  # a step is open: its rows gather the forwards until it is filed
        self._open_recorded = False  # ... and it is recorded
        self._opened_at = -1  # the optimizer steps counted when it opened
        self._recording = False  # this forward is recorded
        self._detailed = False  # the open step measures the details too
        self._written: set[int] = set()  # layers written this step (later calls add up)
        self._calls: dict[int, int] = {}  # layer -> its calls this step, where more than one
        self._calls_per_forward: dict[int, int] = {}  # a compiled model's layers -> their calls
        self._seen: dict[int, tuple[Tensor, int]] = {}  # the data of a tensor recorded this
        # forward -> (the tensor, its layer): the model's output is matched against these
        self._eager = StepRows(bins)  # the step in progress
        self._graph = StepRows(bins)  # what a captured CUDA graph's step writes, each replay
        self._rows = self._eager
        self._captured_counts = np.zeros((0, 0))  # the captured step's counts
        self._registering = False  # a forward that only sees the layers (`_see_layers`)
        self._looked = False  # whether the first recorded forward was looked at
        self._traced_rows = TracedRows(bins)  # what compiled graphs write (see TracedRows)
        self._gradient_came = False  # a gradient came back in the open step
        self._hooked: list[Any] = []  # weak references to the model's outputs, until the
        # first optimizer step (a second forward may file their step before its backward)
        self._open_id = 0  # the open step's number among those opened (tags its hooks)
        self._layer_outputs: set[str] = set()  # places in the model's output that are layers'
        self._gathered = Gathered(hist_sample, bins)  # small outputs, measured together
        self._parameter_norms = ParameterNorms()
        self._awaiting_backward = False  # the end of the backward will measure the gradients
        self._losses = FoldedLoss()  # the losses since the last recorded step
        self._training_forward = False  # the last forward was a training one
        self._optimizers = OptimizerSpy(model)
        self._handles = [model.register_forward_pre_hook(self._before_forward, with_kwargs=True)]
        self._layer_hooks = LayerHooks([], model)
        try:
            hooks = [(m, self._make_forward(i)) for i, m in enumerate(self.layers.modules)]
            self._layer_hooks = LayerHooks(hooks, model)
            self._handles.append(model.register_forward_hook(self._after_forward))
            batch_norm = first_batch_norm(model)
            if batch_norm is not None:
                self._norm_batch_handle = batch_norm.register_forward_pre_hook(self._norm_batch)
                self._handles.append(self._norm_batch_handle)
        except BaseException:
            self.remove()
            raise

    @property
    def every(self) -> int:
        """The recording interval now: 1 until "auto" chooses; it doubles each time the
        host record is thinned."""
        return self._rate.interval * self._buffer.rate

    @property
    def resume_every(self) -> Every:
        """The `every` that a watcher resuming this record is given: the rate now, or "auto"
        while it is still being chosen."""
        return "auto" if self._rate.deciding else self.every

    # ------------------------------------------------------------------ recording
    @eager
    def _before_forward(self, module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        if self._registering:
            return
        if self._rows is self._graph:  # capturing: counted at each replay (`on_replay`)
            self._recording = self._detailed = True
        elif module.training and torch.is_grad_enabled():
            self._training_forward = True
            if self._new_step():
                now = time.perf_counter()  # before filing the last step: its cost is its own
                self._commit()
                self._start_step(now)
            self._recording = self._open_recorded
        else:
            self._recording = self._training_forward = False
        if self._recording:
            x = next((t for _, t in tensors_in(args) if t.is_floating_point()), None)
            if x is not None and x.numel():
                self._record(INPUT, "", x, "input")
            if not self._looked and self._rows is self._eager:  # never in a CUDA capture
                self._looked = True
                if called_from_compiled_code():
                    self._layer_hooks.pin()
                    self._see_layers(module, args, kwargs)
        if module.training and torch.is_grad_enabled() and self._rows is self._eager:
            if self._traced_rows.wanted and self._eager.rows is not None:
                device = self._eager.rows.device  # compiled after eager steps: rows, now
                self._traced_rows.grow(len(self.layers.specs), device)
            self._traced_rows.next_forward()

    def _new_step(self) -> bool:
        """Whether a training forward opens a new step: none is open, an optimizer holding
        the model's parameters has stepped since it opened, or none has stepped yet."""
        return not self._open or self._optimizers.steps != self._opened_at or not self._opened_at

    def _see_layers(self, model: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        """When a compiled model first runs, run its forward once more, eagerly and without
        gradients, only to see (register) its layers: `torch.compile` then traces the hooks
        whole, with no graph break (a break, once compiled, would stay). What a forward
        changes is put back: the buffers (BatchNorm's running statistics) and the random
        generators; a forward that changes its input in place would change it twice."""
        buffers = [(b, b.clone()) for b in model.buffers()]
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        self._registering = True
        try:
            with torch.no_grad():
                model(*args, **kwargs)
        except Exception:  # the real forward raises it, or registers as it goes
            pass
        finally:
            self._registering = False
            self._seen.clear()
            self._calls.clear()
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)

    @eager
    def _norm_batch(self, module: nn.Module, args: Any) -> None:
        """Note the items a BatchNorm normalises over in training (its input's first axis),
        once (then the hook goes): the diagnosis warns when they are too few."""
        x = args[0] if args and isinstance(args[0], Tensor) else None
        if module.training and x is not None and x.ndim and "norm_batch" not in self.meta:
            self.meta["norm_batch"] = {"items": int(x.shape[0]), "layer": type(module).__name__}
            self._norm_batch_handle.remove()

    def _start_step(self, now: float) -> None:
        """A step opens (at `now`, seconds): is it recorded, with details?"""
        self._open, self._opened_at = True, self._optimizers.steps
        self._gradient_came, self._hooked = False, []
        self._open_id += 1
        self._detailed = self._rate.detailed
        self._open_recorded = self._rate.records(self._step, self._buffer.rate, now)
        self._hooks_for(self._open_recorded)
        self._step += 1

    def _hooks_for(self, recorded: bool) -> None:
        """Attach the layers' hooks for a recorded step, detach them for another; but once
        the model runs compiled they stay (its graph holds them: see `watch_hooks`)."""
        hooks = self._layer_hooks
        if hooks.pinned or (recorded and hooks.attached):
            return
        if called_from_compiled_code() or (hooks.attached and holds_compiled(self.model)):
            hooks.pin()
        elif recorded:
            hooks.attach()
        else:
            hooks.detach()

    def _make_forward(self, position: int) -> Any:
        def on_forward(module: nn.Module, args: Any, out: Any) -> None:
            if torch.compiler.is_compiling():
                self._traced(position, args, out)
                return
            if self._registering:
                for path, x in tensors_in(out):
                    if x.is_floating_point() and x.numel():
                        seen = (position, path) in self.layers.index
                        layer = self._first_sight(position, path, x, args, hook=False)
                        if seen:
                            self._count_call(layer)
                        self._calls_per_forward[layer] = self._calls.get(layer, 1)
                return
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

    @eager
    def _after_forward(self, module: nn.Module, args: Any, out: Any) -> None:
        if self._registering:
            self._see_output(out)
            return
        if not self._recording:
            return
        recorded = False
        for path, x in tensors_in(out):
            if not x.is_floating_point() or not x.numel():
                continue
            recorded = True
            if "outputs" not in self.meta:
                self.meta["outputs"] = int(x.shape[-1]) if x.ndim else 1
            if not self._opened_at and x.requires_grad:  # a second forward may file this
                x.register_hook(self._came)  # type: ignore[no-untyped-call]
                self._hooked.append(weakref.ref(x))  # step before its backward: see _commit
            if not self._is_a_layers(path, x):  # a compiled graph's layer outputs are
                self._record(OUTPUT, path, x, "output")  # not seen here, but known
        if not recorded:
            self.layers.called(OUTPUT, out, recorded)
        self._seen.clear()
        self._gathered.settle()
        self._gathered.measure_outputs(self._eager, self.layers.specs)
        source = self._gathered.last_gradient_source()
        if source is not None and source.grad_fn is not None:
            source.grad_fn.register_prehook(self._backward_began)

    def _backward_began(self, grads: tuple[Tensor | None, ...]) -> None:
        """A backward reached a gathered output: when it ends, measure the gradients."""
        if not self._awaiting_backward:
            self._awaiting_backward = True
            engine = torch.autograd.Variable._execution_engine
            engine.queue_callback(self._backward_ended)

    def _backward_ended(self) -> None:
        self._awaiting_backward = False
        if self._gathered.measure_gradients(self._eager):
            self._gradient_came = True

    def _came(self, g: Tensor) -> None:
        """A gradient of the model's output came back (for `_commit`)."""
        self._gradient_came = True

    def _is_a_layers(self, path: str, x: Tensor) -> bool:
        """Whether the model's output `x` at `path` is a watched layer's (then recorded)."""
        seen = self._seen.get(x.data_ptr())
        if seen is not None and seen[0].shape == x.shape:  # the same values (a compiled
            self.layers.is_output(seen[1])  # graph may return an alias of the tensor)
            self._layer_outputs.add(path)
            return True
        return not self._seen and path in self._layer_outputs

    def _see_output(self, out: Any) -> None:
        """The model's outputs in a forward that only sees the layers: which are a layer's."""
        for path, x in tensors_in(out):
            if x.is_floating_point() and x.numel() and not self._is_a_layers(path, x):
                self.layers.layer(OUTPUT, path, x, "output")

    def _record(self, position: int, path: str, x: Tensor, role: str, args: Any = ()) -> None:
        layer = self.layers.index.get((position, path))
        if layer is None:  # first sight
            layer = self.layers.layer(position, path, x, role, args)
        rows = self._rows
        if rows.size <= layer or rows.device != x.device:
            rows.ready(len(self.layers.specs), x.device)
        light = not self._detailed or position == INPUT
        again = layer in self._written
        if again:
            self._count_call(layer)  # another call of the module in this step: it adds up
        else:
            self._written.add(layer)
        if position != INPUT:
            self._seen[x.data_ptr()] = (x, layer)
        hooked = self.grads and x.requires_grad
        gathered = self._gathered
        if rows is self._eager and gathered.takes(layer, x):
            if gathered.add_output(layer, x, light, fresh=not again):
                gathered.measure_outputs(rows, self.layers.specs)  # held enough: now
            if hooked and x.grad_fn is not None:
                gathered.add_gradient(layer, x, self._detailed)
                return
        else:
            spec = self.layers.specs[layer]
            if again:  # a module called again (or gathered before): add this call up
                assert rows.rows is not None
                new = output_rows([x], spec, self.hist_sample, self.bins, light)
                merge_rows(rows.rows[layer], new[0])
                e = extent(x.shape, spec.unit_dim, self.hist_sample)
                rows.add_counts([layer], output_counts(e, light))
            else:  # the row is at its identity: write it directly
                counts = output_into(x, rows.views[layer], spec, self.hist_sample, light)
                rows.counts[layer, :3] = counts
            if rows is self._eager:
                gathered.probe(layer, x, spec)
        if hooked:
            rows.await_gradients(layer)  # until the backward brings a gradient
            on_gradient = self._make_gradient(rows, layer)
            node = x.grad_fn
            if node is None:  # a leaf: only the tensor can be hooked
                x.register_hook(on_gradient)  # type: ignore[no-untyped-call]
            else:  # the node that made x, told x's gradient first: half the cost of a tensor
                node.register_prehook(_output_gradient(on_gradient, x.output_nr))  # hook

    def _count_call(self, layer: int) -> None:
        """One more call of the layer's module in this step (past the first)."""
        self._calls[layer] = self._calls.get(layer, 1) + 1
        self.layers.called_again(layer, self._calls[layer])

    def _make_gradient(self, rows: StepRows, layer: int) -> Any:
        detailed, step = self._detailed, self._open_id

        def on_gradient(g: Tensor) -> None:
            if step != self._open_id:
                return  # its step was filed before the backward (two forwards, then one)
            self._gradient_came = True
            fresh = layer not in rows.graded
            counts = gradient_into(g, rows.views[layer], self.hist_sample, detailed, fresh)
            rows.add_gradient_counts(layer, counts)

        return on_gradient

    # ------------------------------------------------------------------ torch.compile
    def _traced(self, position: int, args: Any, out: Any) -> None:
        """A watched module's forward hook inside a compiled graph: measure every output
        with tensor operations only (see the module docstring)."""
        if not (self.model.training and torch.is_grad_enabled()):
            return
        for path, x in tensors_in(out):
            if not x.is_floating_point() or not x.numel():
                continue
            layer = self.layers.index.get((position, path))
            first = layer is None
            if layer is None:  # first sight: registered eagerly, once (warm-up)
                layer = self._first_sight(position, path, x, args)
            rows = self._traced_rows.rows
            if rows is None:  # compiled after eager steps: rows from the next step on
                self._traced_rows.wanted = True
                return
            spec = self.layers.specs[layer]
            hooked = self.grads and x.requires_grad
            new = output_rows([x], spec, self.hist_sample, self.bins, counts=True, hooked=hooked)
            merge_rows(rows[layer], new[0])
            if hooked and not first:
                x.register_hook(self._make_traced_gradient(layer, rows))  # type: ignore[no-untyped-call]

    @eager
    def _first_sight(
        self, position: int, path: str, x: Tensor, args: Any, hook: bool = True
    ) -> int:
        layer = self.layers.layer(position, path, x, "layer", args)
        self._rows.of(layer, len(self.layers.specs), x.device)
        self._traced_rows.grow(len(self.layers.specs), x.device)
        self.layers.called(position, x, True)
        self._seen[x.data_ptr()] = (x, layer)
        if hook and self.grads and x.requires_grad:  # on the real tensor (a layer first seen
            # inside a compiled step, after the warm-up: its rows may grow again meanwhile)
            x.register_hook(self._make_traced_gradient(layer, None))  # type: ignore[no-untyped-call]
        return layer

    def _make_traced_gradient(self, layer: int, rows: Tensor | None) -> Any:
        """The gradient's hook for a compiled step's layer: it adds into `rows`, the traced
        rows its forward wrote (or, None, those open when it is called)."""
        traced, hist_sample, bins = self._traced_rows, self.hist_sample, self.bins

        def on_gradient(g: Tensor) -> None:
            target = traced.rows if rows is None else rows
            assert target is not None
            merge_rows(target[layer], gradient_rows([g], hist_sample, bins, counts=True)[0])

        return on_gradient

    def record_loss(self, loss: Tensor) -> None:
        """Record this step's training loss, on the device (no host read); the diagnosis then
        reads the loss curve too. Call it after each training forward. A recorded step's loss
        is the mean of the losses since the last recorded step (`watch_loss`): every step's
        loss counts, a non-finite one too (at the end of a run, a non-finite loss with no
        recorded step after it is filed as a step of its own: `_file_lost_loss`)."""
        if not (self._recording or (self._training_forward and self._open)):
            return
        self._losses.add(loss)
        if self._recording:
            mean = self._losses.mean()
            assert mean is not None
            self._rows.loss_cell(loss.device).copy_(mean)
            self.meta.setdefault("loss", loss_name(loss))

    def _file_lost_loss(self) -> None:
        """When the record is read: losses added since the last recorded step (the run ended
        or stopped before another), when non-finite, are filed as a step of their own with no
        layer measured, so that the diagnosis sees the loss go (one read of the device); a
        finite mean waits for the next recorded step."""
        mean = self._losses.non_finite()
        if mean is None or self._rows is not self._eager:
            return
        rows = self._eager
        rows.ready(len(self.layers.specs), mean.device)
        rows.loss_cell(mean.device).copy_(mean)
        rows.file(self._buffer, self._step - 1)
        self._losses.clear()

    def _commit(self) -> None:
        """Close the open step: parameter norms, then file it (or forget it, unrecorded)."""
        if self._open and self._open_recorded and self._rows is self._eager:
            self._gathered.settle()  # what the ends of a forward or a backward did not measure
            self._gathered.measure_outputs(self._eager, self.layers.specs)
            if self._gathered.measure_gradients(self._eager):
                self._gradient_came = True
        self._gathered.forget()
        self._awaiting_backward = False  # a backward that raised never called back
        self._seen.clear()
        self._written.clear()
        self._calls.clear()
        was_open, self._open, self._recording = self._open, False, False
        if self._rows is self._graph:
            return
        rows = self._eager
        traced = self._traced_rows.take()  # a compiled graph measures every step
        if not (was_open and self._open_recorded):
            rows.clear()
            return
        for block in traced:
            rows.of(0, len(block), block.device)
            assert rows.rows is not None
            merge_rows(rows.rows[: len(block)], block)
        if len(traced) > 1:  # a compiled step of several forwards: each adds its calls
            for layer, calls in self._calls_per_forward.items():
                self.layers.called_again(layer, calls * len(traced))
        if not self._gradient_came and any(ref() is not None for ref in self._hooked):
            awaited = rows.counts[:, 3] == AWAITED  # their backward is still to come: in
            rows.counts[awaited, 3] = 0  # the next step, which will drop it (not measured)
            if rows.rows is not None:
                rows.rows[:, GHOOKED] = 0  # so for a compiled step's layers
        if self.params and self._detailed:
            modules = self.layers.modules
            owners = [(layer, list(modules[position].parameters()))
                      for position, layer in self.layers.first.items()]  # fmt: skip
            owners = [(layer, ps) for layer, ps in owners if ps]
            if owners:
                rows.ready(len(self.layers.specs), rows.device or owners[0][1][0].device)
                assert rows.rows is not None
                self._parameter_norms.measure(owners, rows.rows)
        rows.file(self._buffer, self._step - 1)
        self._losses.clear()  # they are in the step filed

    # ------------------------------------------------------------------ CUDA graphs
    def on_capture_start(self) -> None:
        """A CUDA graph is about to capture a training step: the hooks will write into rows
        of their own, which each replay of the graph fills again."""
        self._commit()
        self._layer_hooks.pin()  # the graph holds them
        self._rows = self._graph
        self._graph.graded.clear()  # its kernels write each gradient, not add it

    def on_capture_end(self) -> None:
        """The capture is over; it was no step of its own (its replays are)."""
        self._recording = False
        self._rows = self._eager
        self._captured_counts = self._graph.counts.copy()
        self._seen.clear()

    def on_replay(self) -> None:
        """The captured step ran once more, filling its rows: count it, and if it is recorded
        open it with a copy of them (the details an eager step would have measured), so that
        the loss recorded after the batch joins it; the next step files it."""
        self._commit()
        self._start_step(time.perf_counter())
        self._opened_at = -1  # the replay held its optimizer step: the next forward is anew
        self._recording, self._training_forward = self._open_recorded, True
        if not self._recording or self._graph.rows is None:
            self._recording = False
            return
        rows = self._eager
        rows.take(self._graph, self._captured_counts)
        if not self._detailed:
            assert rows.rows is not None
            rows.rows[:, detail_columns(self.bins)] = float("nan")
            rows.counts[:, [1, 2, 4]] = 0  # sampled values, units, sampled gradient values

    # ------------------------------------------------------------------ results
    @property
    def telemetry(self) -> Telemetry:
        """Everything recorded so far (reading it waits for transfers in flight)."""
        self._commit()
        self._file_lost_loss()
        steps, values, hist, losses = self._buffer.arrays()
        named = list(zip(self.layers.names, self.layers.modules, strict=True))
        meta = {
            **self.meta,
            **self._optimizers.facts,
            "every": self.every,
            **self._rate.facts(),
            "hist_sample": self.hist_sample,
            "not_in_optimizer": self._optimizers.left_out(named),
            "not_recorded": self.layers.not_recorded() if len(steps) else {},
        }
        return Telemetry(self.layers.final_specs(), steps, values, hist, losses, meta)

    def diagnose(self) -> Findings:
        """The diagnosis of what was recorded (shown as a table in a notebook)."""
        from .diagnosis import diagnose

        return diagnose(self.telemetry)

    def report(self) -> Findings:
        """Print the diagnosis of what was recorded and return its findings."""
        findings = self.diagnose()
        print(findings)
        return findings

    # ------------------------------------------------------------------ lifetime
    def remove(self) -> None:
        """Remove every hook (idempotent); the recorded telemetry stays readable."""
        self._optimizers.remove()
        self._layer_hooks.remove()
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
