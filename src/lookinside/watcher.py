"""`watch(model)`: per-layer activation telemetry for any training loop, at almost no cost.

    with li.watch(model) as w:
        for xb, yb in batches:
            ...                      # your loop: forward, backward, step
    w.telemetry[0].near_zero         # or li.diagnose(w.telemetry), w.report()

Every forward call of the root model in training mode is one step. At each recorded step, a
forward hook on each watched module computes, on the device and without reading anything on
the host: Σx and Σx² of the output (for mean and std), and a 40-bin histogram of a sample of
it (the first items of the batch, at most `hist_sample` values: batches are shuffled, so this
is a random sample, and it keeps the histogram's cost small on a CPU). The numbers go into a
preallocated device buffer, which moves to the host a chunk of steps at a time (asynchronously
on CUDA). Host memory is bounded: past `max_steps` recorded steps, every other one is dropped
and recording continues at half the rate.

Which modules: by default the model's direct children (for `cnn()`: each conv block, the pool,
the flatten and the linear layer, as in the lesson), or the model itself if it has none.
Histogram range per module, from its last leaf module: after ReLU [0, 10] (the lesson's);
after GeneralRelu 14 wide, starting 7 below its floor -sub (the lesson used -7..7); after a
shape-only module (pooling, flatten, Lambda, dropout) the same as the module before it;
otherwise (conv, linear, norm outputs) [-7, 7].
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .distributed import unwrap
from .hooks import Hook
from .nn import GeneralRelu, Lambda
from .telemetry import LayerSpec, Telemetry

BINS = 40
_RELU_LIKE = (nn.ReLU, nn.ReLU6)
_SHAPE_ONLY = (
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Identity,
    Lambda,
)


def default_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's direct children (named), or the model itself when it has none."""
    children = list(model.named_children())
    return children or [("model", model)]


def _label(name: str, module: nn.Module) -> str:
    kids = [type(c).__name__ for c in module.children()]
    inner = ", ".join(kids[:4]) + (", ..." if len(kids) > 4 else "")
    return f"{name} {type(module).__name__}" + (f"({inner})" if kids else "")


def layer_specs(named: Sequence[tuple[str, nn.Module]]) -> list[LayerSpec]:
    """The histogram range and floor of each module, by the rule in this module's docstring."""
    specs: list[LayerSpec] = []
    for name, module in named:
        leaves = [m for m in module.modules() if not list(m.children())] or [module]
        last, label = leaves[-1], _label(name, module)
        if isinstance(last, _RELU_LIKE):
            spec = LayerSpec(name, label, 0.0, 10.0, 0.0, True)
        elif isinstance(last, GeneralRelu):
            floor = last.floor
            spec = LayerSpec(name, label, floor - 7, floor + 7, floor, True, last.maxv)
        elif isinstance(last, _SHAPE_ONLY) and specs:
            prev = specs[-1]
            spec = LayerSpec(name, label, prev.lo, prev.hi, prev.floor, prev.rectified, prev.maxv)
        else:
            spec = LayerSpec(name, label, -7.0, 7.0, None, False)
        specs.append(spec)
    return specs


def _first_tensor(out: Any) -> Tensor | None:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


class Watcher:
    """Hooks on the watched modules and the buffers they fill; see this module's docstring.

    Args:
        model: the root module; each of its forward calls in training mode is a step.
        modules: the modules to watch (default: `default_modules(model)`), as modules or
            (name, module) pairs.
        every: record every `every`-th step.
        grads: also record Σ and Σ² of each output's gradient (a hook on the output tensor).
        params: also record each watched module's parameter norm after each recorded step.
        hist_sample: the most values per layer and step that go into the histogram (None:
            all of them).
        max_steps: the most recorded steps kept on the host (older ones are thinned).
        chunk: recorded steps buffered on the device between transfers.
        first_step: the number of the first step (a resumed run continues its numbering).
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
        every: int = 1,
        grads: bool = False,
        params: bool = False,
        hist_sample: int | None = 16384,
        max_steps: int = 4096,
        chunk: int = 256,
        bins: int = BINS,
        first_step: int = 0,
    ) -> None:
        if every < 1 or max_steps < 2 or chunk < 1:
            raise ValueError("every and chunk must be at least 1, max_steps at least 2.")
        model = unwrap(model)  # watch the module inside a DistributedDataParallel
        names = {id(m): n for n, m in model.named_modules()}
        named = [
            m if isinstance(m, tuple) else (names.get(id(m), type(m).__name__), m)
            for m in (modules if modules is not None else default_modules(model))
        ]
        self.model, self.specs = model, layer_specs(named)
        self.every, self.grads, self.params = every, grads, params
        self.hist_sample, self.max_steps, self.chunk, self.bins = (
            hist_sample,
            max_steps,
            chunk,
            bins,
        )
        self._modules = [m for _, m in named]
        n = len(named)
        # Row layout per layer: [Σx, Σx², hist (bins), Σg, Σg², param norm].
        self._width = 2 + bins + 3
        self._buf: Tensor | None = None  # (chunk, layers, width) on the device
        self._slot = 0
        self._step = first_step  # training forward calls seen (and, resuming, done before)
        self._recording = False
        self._capturing = False  # a CUDA graph is recording the step: hooks write to staging
        self._staging: Tensor | None = None  # (layers, width): the captured step's numbers
        self._captured_meta = np.zeros((len(named), 3))
        self._pending_meta: list[tuple[int, np.ndarray]] = []  # per slot: step, counts (L, 3)
        self._meta = np.zeros((n, 3))  # this step's value counts: outputs, sample, grads
        self._host_rows: list[np.ndarray] = []  # (k, L, width) blocks, moved to the host
        self._host_meta: list[tuple[int, np.ndarray]] = []
        self._inflight: list[tuple[Tensor, Any, list[tuple[int, np.ndarray]]]] = []
        self._kept = 0
        self.hooks: list[Hook] = []
        self._root_handle = model.register_forward_pre_hook(self._before_forward)
        try:
            for i, m in enumerate(self._modules):
                self.hooks.append(Hook(m, self._make_forward(i)))
        except BaseException:
            self.remove()
            raise

    # ------------------------------------------------------------------ recording
    def _before_forward(self, module: nn.Module, args: Any) -> None:
        self._commit()  # the previous step is over, whatever this forward is
        if self._capturing:  # counted at each replay instead (`on_replay`)
            self._recording = True
            return
        if not module.training:  # an evaluation forward: not a step, not recorded
            return
        self._recording = self._step % self.every == 0
        self._step += 1

    def _make_forward(self, i: int) -> Any:
        spec = self.specs[i]

        def on_forward(hook: Hook, module: nn.Module, inp: Any, out: Any) -> None:
            x = _first_tensor(out)
            if not self._recording or x is None or not x.is_floating_point():
                return
            row = self._row(x.device)[i]
            if self.grads and x.requires_grad:
                x.register_hook(self._make_grad_hook(i))  # type: ignore[no-untyped-call]
            x = x.detach()
            flat = x.reshape(-1) if x.dtype == torch.float32 else x.reshape(-1).float()
            torch.sum(flat, dim=0, out=row[0])
            torch.dot(flat, flat, out=row[1])
            sample = x
            if self.hist_sample is not None and x.ndim > 1 and x.numel() > self.hist_sample:
                sample = x[: max(1, self.hist_sample // x[0].numel())]
            sample = sample if sample.dtype == torch.float32 else sample.float()
            torch.histc(sample, self.bins, spec.lo, spec.hi, out=row[2 : 2 + self.bins])
            self._meta[i, 0], self._meta[i, 1] = flat.numel(), sample.numel()

        return on_forward

    def _make_grad_hook(self, i: int) -> Any:
        def on_grad(g: Tensor) -> None:
            rows = self._staging if self._capturing else self._buf
            if rows is None:
                return
            row = rows[i] if self._capturing else rows[self._slot, i]
            flat = g.detach().reshape(-1).float()
            torch.sum(flat, dim=0, out=row[2 + self.bins])
            torch.dot(flat, flat, out=row[3 + self.bins])
            self._meta[i, 2] = flat.numel()

        return on_grad

    def _row(self, device: torch.device) -> Tensor:
        if self._capturing:
            if self._staging is None or self._staging.device != device:
                shape = (len(self.specs), self._width)
                self._staging = torch.full(shape, float("nan"), device=device)
            return self._staging
        if self._buf is None or self._buf.device != device:
            self._buf = torch.full(
                (self.chunk, len(self.specs), self._width), float("nan"), device=device
            )
        return self._buf[self._slot]

    def _commit(self) -> None:
        """Close the step in progress: store its counts, move the buffer on when it is full."""
        if not self._recording or self._buf is None:
            self._recording = False
            return
        self._recording = False
        if self.params:
            self._param_norms(self._buf[self._slot])
        self._pending_meta.append((self._step - 1, self._meta.copy()))
        self._meta[:] = 0
        self._slot += 1
        if self._slot == self.chunk:
            self._flush()

    def _param_norms(self, rows: Tensor) -> None:
        with torch.no_grad():
            for i, m in enumerate(self._modules):
                ps = [p.detach() for p in m.parameters()]
                if ps:
                    norms = torch.stack(torch._foreach_norm(ps))
                    torch.linalg.vector_norm(norms, out=rows[i, -1])

    def _flush(self) -> None:
        """Start moving the filled slots to the host; a fresh NaN buffer takes their place."""
        if self._buf is None or self._slot == 0:
            return
        filled = self._buf[: self._slot]
        if filled.is_cuda:
            host = torch.empty(filled.shape, pin_memory=True)
            host.copy_(filled, non_blocking=True)
            event = torch.cuda.Event()  # type: ignore[no-untyped-call]
            event.record(torch.cuda.current_stream(filled.device))
            self._inflight.append((host, event, self._pending_meta))
            self._buf = None  # the copy reads the old buffer: allocate another
        else:
            self._inflight.append((filled.clone(), None, self._pending_meta))
            self._buf.fill_(float("nan"))
        self._pending_meta, self._slot = [], 0
        self._land(keep_last=filled.is_cuda)

    def _land(self, keep_last: bool = False) -> None:
        """Take finished transfers into host storage (the newest may stay in flight)."""
        ready = self._inflight[:-1] if keep_last else self._inflight
        for host, event, meta in ready:
            if event is not None:
                event.synchronize()  # a chunk ago: long finished
            self._host_rows.append(host.numpy())
            self._host_meta.extend(meta)
            self._kept += len(meta)
        self._inflight = self._inflight[len(ready) :]
        if self._kept > self.max_steps:
            self._thin()

    def _thin(self) -> None:
        rows = np.concatenate(self._host_rows)[::2]
        self._host_meta = self._host_meta[::2]
        self._host_rows, self._kept = [rows], len(rows)
        self.every *= 2

    # ------------------------------------------------------------------ CUDA graphs
    def on_capture_start(self) -> None:
        """A CUDA graph is about to capture a training step: the hooks will write into a
        staging row, which each replay of the graph fills again."""
        self._commit()
        self._capturing = True

    def on_capture_end(self) -> None:
        """The capture is over; it was no step of its own (its replays are)."""
        self._capturing = self._recording = False
        self._captured_meta, self._meta = self._meta.copy(), np.zeros_like(self._meta)

    def on_replay(self) -> None:
        """The captured step ran once more: count it, and file its numbers if it is recorded."""
        self._commit()
        self._recording = self._step % self.every == 0
        self._step += 1
        if self._recording and self._staging is not None:
            self._row(self._staging.device).copy_(self._staging)
            self._meta[:] = self._captured_meta

    # ------------------------------------------------------------------ results
    @property
    def telemetry(self) -> Telemetry:
        """Everything recorded so far (reading it waits for transfers in flight)."""
        self._commit()
        self._flush()
        self._land()
        n, b = len(self.specs), self.bins
        rows = np.concatenate(self._host_rows) if self._host_rows else np.zeros((0, n, self._width))
        meta = self._host_meta
        counts = np.array([m for _, m in meta]).reshape(len(meta), n, 3)
        with np.errstate(invalid="ignore"):
            counts = np.where(counts > 0, counts, np.nan)
        return Telemetry(
            self.specs,
            np.array([s for s, _ in meta], dtype=np.int64),
            rows[:, :, 0].astype(np.float64),
            rows[:, :, 1].astype(np.float64),
            counts[:, :, 0],
            rows[:, :, 2 : 2 + b],
            counts[:, :, 1],
            rows[:, :, 2 + b].astype(np.float64) if self.grads else None,
            rows[:, :, 3 + b].astype(np.float64) if self.grads else None,
            counts[:, :, 2] if self.grads else None,
            rows[:, :, -1].astype(np.float64) if self.params else None,
            self.hist_sample,
        )

    def report(self) -> list[Any]:
        """Print the diagnosis of what was recorded and return its findings."""
        from .diagnosis import diagnose, format_findings

        findings = diagnose(self.telemetry)
        print(format_findings(findings))
        return findings

    # ------------------------------------------------------------------ lifetime
    def remove(self) -> None:
        """Remove every hook (idempotent); the recorded telemetry stays readable."""
        self._root_handle.remove()
        for h in self.hooks:
            h.remove()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"Watcher({len(self.specs)} layers, every={self.every}, {self._step} steps seen)"


def watch(
    model: nn.Module,
    modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
    **kwargs: Any,
) -> Watcher:
    """Watch `model`'s layers while any loop trains it; see `Watcher` for the options."""
    return Watcher(model, modules, **kwargs)
