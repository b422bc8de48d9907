"""`CudaGraph`: capture the training step (forward, loss, backward, optimizer step) in a CUDA
graph once, then replay it for every batch.

A small CNN's step is a few hundred short kernels; launched one by one from Python, the launches
take longer than the work. A CUDA graph records them once and replays the whole step with one
launch. How a fit runs with `CudaGraph`:

- The first `warmup` training batches run eagerly, on a side stream as PyTorch asks, with every
  event firing as usual.
- The next batch of the fit's batch shape is captured: its tensors are copied into static ones
  and `learn.step()` runs under capture. **The events inside the step (`after_pred`,
  `after_loss`, `before_backward`, `after_backward`, `after_step`) fire at capture only**: the
  tensor work of their handlers (clipping the gradients, say) becomes part of the graph and is
  replayed; anything else they do happens once. (During capture the parameter groups hold
  `lr`, and beta1, as device tensors: a handler must not read them as numbers.) Then the graph
  is replayed for that batch.
- Every later batch of that shape is copied into the static tensors and replayed. `before_batch`
  and `after_batch` fire as usual; `learn.pred` and `learn.loss` are fresh copies of the step's
  outputs, and the parameters' `.grad` are the step's gradients.
- A batch of another shape (the short last one) runs eagerly; validation always does.

Hyper-parameters: for Adam and AdamW the captured step reads `lr`, and beta1 when a schedule
moves the momentum, from device tensors that each replay refreshes from the parameter groups,
so one-cycle keeps working. Every other hyper-parameter (beta2, SGD's lr, ...) is baked in at
capture: changing it afterwards raises rather than being silently ignored. The optimizer is
left `capturable=True` (its step count on the device).

Telemetry (`ActivationStats`) is exact: its hooks are captured too, and each recorded replay
files their numbers as a step. fp16's gradient scaler and several processes are not supported
(bf16 is).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ..callback import Callback
from ..distributed import world
from ..errors import LookinsideError
from ..tensor_tree import tensors, tree_map
from .mixed_precision import MixedPrecision
from .param_scheduler import ParamScheduler

if TYPE_CHECKING:
    from ..learner import Learner


class GraphBackend(Protocol):
    """Where warm-up steps run, and how a step is captured and replayed."""

    def warmup(self) -> AbstractContextManager[None]:
        """The context for the eager warm-up steps."""

    def capture(self, step: Callable[[], Sequence[Any]]) -> list[Any]:
        """Record `step` (which returns its outputs); return the outputs each replay refills."""

    def replay(self) -> None:
        """Run the recorded step again, on the static inputs' current values."""


class TorchCudaGraph:
    """`GraphBackend` on a CUDA device, with `torch.cuda.CUDAGraph`."""

    def __init__(self, device: torch.device) -> None:
        self.graph = torch.cuda.CUDAGraph()
        self.side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]

    @contextmanager
    def warmup(self) -> Iterator[None]:
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            yield
        torch.cuda.current_stream().wait_stream(self.side)

    def capture(self, step: Callable[[], Sequence[Any]]) -> list[Any]:
        with torch.cuda.graph(self.graph):
            outputs = list(step())
        return outputs

    def replay(self) -> None:
        self.graph.replay()


@runtime_checkable
class CaptureAware(Protocol):
    """A callback whose hooks run inside the step and must know about capture and replays."""

    def on_capture_start(self) -> None: ...

    def on_capture_end(self) -> None: ...

    def on_replay(self) -> None: ...


def layout(x: Any) -> list[tuple[torch.Size, torch.dtype, torch.device]]:
    """What a static copy of `x` must match: each tensor's shape, dtype and device."""
    return [(t.shape, t.dtype, t.device) for t in tensors(x)]


class GraphHypers:
    """The optimizer's hyper-parameters as a captured step sees them.

    With Adam and AdamW, `lr` is a device tensor, refreshed from the group's float before each
    replay; so is beta1 (what one-cycle moves as momentum) when `live_beta1`, which also puts
    Adam on its per-tensor path: the multi-tensor one reads a tensor beta back to the host.
    `installed()` puts the tensors in the groups while the step is captured or replayed. Every
    other number (beta2, weight decay, SGD's lr, ...) is fixed at capture: `refresh` raises if
    a schedule changed one.
    """

    def __init__(self, opt: torch.optim.Optimizer, device: torch.device, live_beta1: bool) -> None:
        self.groups = opt.param_groups
        adam = isinstance(opt, torch.optim.Adam)  # AdamW is one
        live = (("lr", "beta1") if live_beta1 else ("lr",)) if adam else ()
        numbers = [_numbers(g) for g in self.groups]
        self.values = [{k: n[k] for k in live} for n in numbers]
        self.tensors = [
            {k: torch.tensor(v, device=device) for k, v in values.items()} for values in self.values
        ]
        self.fixed = [{k: v for k, v in n.items() if k not in live} for n in numbers]

    def refresh(self) -> None:
        """Copy changed live values into their tensors; refuse a change to a fixed one."""
        for group, values, tensors_, fixed in zip(
            self.groups, self.values, self.tensors, self.fixed, strict=True
        ):
            now = _numbers(group)
            for key, value in fixed.items():
                if now[key] != value:
                    raise LookinsideError(
                        f"CudaGraph: the optimizer's {key} changed from {value} to {now[key]} "
                        "after the step was captured, which baked it in; with a CUDA graph "
                        "only Adam's and AdamW's lr and momentum (beta1) can be scheduled."
                    )
            for key, old in values.items():
                if now[key] != old:
                    tensors_[key].fill_(now[key])  # a kernel, no synchronisation
                    values[key] = now[key]

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The groups hold the tensors (the step reads them), then their floats again."""
        keys = ("lr", "betas", "foreach")
        saved: list[dict[str, Any]] = [{k: g[k] for k in keys if k in g} for g in self.groups]
        for group, tensors_ in zip(self.groups, self.tensors, strict=True):
            if "lr" in tensors_:
                group["lr"] = tensors_["lr"]
            if "beta1" in tensors_:
                group["betas"] = (tensors_["beta1"], group["betas"][1])
                group["foreach"] = False
        try:
            yield
        finally:
            for group, values in zip(self.groups, saved, strict=True):
                group.update(values)


def _numbers(group: dict[str, Any]) -> dict[str, float]:
    """A group's numeric hyper-parameters, Adam's betas as beta1 and beta2."""
    out = {
        k: v for k, v in group.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if isinstance(group.get("betas"), tuple):
        out["beta1"], out["beta2"] = group["betas"]
    return out


class CudaGraph(Callback):
    """Replays each training step from a CUDA graph; see this module's docstring.

    Args:
        warmup: eager training steps before the capture (PyTorch asks for a few, so that lazy
            initialisations such as the optimizer's state happen outside the graph).
        backend: makes the `GraphBackend` for the model's device (default: `TorchCudaGraph`,
            which needs CUDA; tests pass a stand-in that runs on the CPU).
    """

    order = 60  # its before_fit runs after MixedPrecision's and ActivationStats'
    during_lr_find = False  # the finder's short sweep runs eagerly

    def __init__(
        self,
        warmup: int = 3,
        backend: Callable[[Learner, torch.device], GraphBackend] | None = None,
    ) -> None:
        if warmup < 1:
            raise LookinsideError("CudaGraph needs at least one warm-up step.")
        self.warmup, self.make_backend = warmup, backend
        self.replays = 0  # steps replayed from the graph in this fit
        self.eager_steps = 0  # training steps run eagerly (warm-up, other shapes)
        self.capture_seconds = 0.0  # host time spent capturing (kernels are recorded, not run)
        self._cache_restore: list[tuple[MixedPrecision, bool]] = []
        self._live_beta1 = False
        self._reset()

    def _reset(self) -> None:
        self._backend: GraphBackend | None = None
        self._outputs: list[Any] = []
        self._static_xb: Any = None
        self._static_yb: Any = None
        self._shape: list[Any] | None = None  # the layout of the fit's first batch
        self._hypers: GraphHypers | None = None
        self._aware: list[CaptureAware] = []
        self._grads: list[Tensor | None] = []
        self._grads_detached = False

    def before_fit(self, learn: Learner) -> None:
        if world()[1] > 1:
            raise LookinsideError("CudaGraph does not run under torch.distributed yet.")
        device = next(learn.model.parameters()).device
        if self.make_backend is None and device.type != "cuda":
            raise LookinsideError(f"CudaGraph needs a CUDA GPU; the model is on {device.type}.")
        for cb in learn.cbs:
            if isinstance(cb, MixedPrecision):
                if cb.scaled:
                    raise LookinsideError(
                        "CudaGraph cannot capture fp16's gradient scaler, which reads the GPU "
                        "at every step; use MixedPrecision('bf16')."
                    )
                self._cache_restore.append((cb, cb.cache_enabled))
                cb.cache_enabled = False  # autocast's weight cache breaks under capture
        assert learn.opt is not None
        _make_capturable(learn.opt, device)  # and it stays so: its step count lives on the device
        self._live_beta1 = any(
            isinstance(cb, ParamScheduler) and cb.param == "momentum" for cb in learn.cbs
        )
        self._reset()
        self.replays = self.eager_steps = 0
        self.capture_seconds = 0.0
        self._backend = (self.make_backend or _torch_backend)(learn, device)
        self._aware = [cb for cb in learn.cbs if isinstance(cb, CaptureAware)]
        learn.step_runner = self._run

    def after_fit(self, learn: Learner) -> None:
        learn.step_runner = None
        if self._static_xb is not None and learn.opt is not None:
            learn.opt.zero_grad(set_to_none=True)  # the graph's gradients: not for the next fit
        for cb, cache in self._cache_restore:
            cb.cache_enabled = cache
        self._cache_restore = []
        self._reset()  # frees the graph and its memory

    def _run(self, learn: Learner) -> bool:
        shape = layout((learn.xb, learn.yb))
        self._shape = self._shape or shape
        captured = self._static_xb is not None
        if shape != self._shape or (not captured and self.eager_steps < self.warmup):
            self._eager(learn, captured)
        elif captured:
            batch = tensors((learn.xb, learn.yb))
            for static, new in zip(tensors((self._static_xb, self._static_yb)), batch, strict=True):
                static.copy_(new)
            self._replay(learn)
        else:
            start = time.perf_counter()
            self._capture(learn)
            self.capture_seconds += time.perf_counter() - start
            self._replay(learn)
        return True

    def _eager(self, learn: Learner, captured: bool) -> None:
        """One step without the graph: a warm-up step (on the side stream), or another shape."""
        assert learn.opt is not None and self._backend is not None
        learn.opt.zero_grad(set_to_none=True)  # after a replay .grad holds the graph's gradients
        with nullcontext() if captured else self._backend.warmup(), warnings.catch_warnings():
            # Adam warns that capturable=True runs uncaptured: these steps are meant to.
            warnings.filterwarnings("ignore", "This instance was constructed with capturable")
            learn.step()
        learn.opt.zero_grad(set_to_none=True)
        self.eager_steps += 1
        self._grads_detached = captured  # the graph keeps writing its own gradient tensors

    def _capture(self, learn: Learner) -> None:
        assert learn.opt is not None and self._backend is not None
        batch = (learn.xb, learn.yb)
        self._static_xb, self._static_yb = tree_map(torch.clone, batch)
        learn.xb, learn.yb = self._static_xb, self._static_yb
        learn.opt.zero_grad(set_to_none=True)  # the captured backward assigns, never adds
        device = next(learn.model.parameters()).device
        self._hypers = GraphHypers(learn.opt, device, self._live_beta1)
        for aware in self._aware:
            aware.on_capture_start()

        def step() -> tuple[Any, Any]:
            learn.step()
            return learn.pred, learn.loss

        try:
            with self._hypers.installed():
                self._outputs = self._backend.capture(step)
        except RuntimeError as e:
            raise LookinsideError(
                f"CUDA graph capture failed ({str(e).splitlines()[0]}); a callback inside the "
                "step may read a tensor on the host."
            ) from e
        finally:
            for aware in self._aware:
                aware.on_capture_end()
            learn.xb, learn.yb = batch
        self._grads = [p.grad for p in learn.model.parameters()]

    def _replay(self, learn: Learner) -> None:
        assert self._backend is not None and self._hypers is not None
        self._hypers.refresh()
        with self._hypers.installed():
            self._backend.replay()
        self.replays += 1
        for aware in self._aware:
            aware.on_replay()
        pred, loss = self._outputs
        learn.pred = tree_map(lambda t: t.detach().clone(), pred)
        learn.loss = loss.detach().clone()
        if self._grads_detached:
            for p, g in zip(learn.model.parameters(), self._grads, strict=True):
                p.grad = g
            self._grads_detached = False

    def __repr__(self) -> str:
        return f"CudaGraph(warmup={self.warmup})"


def _torch_backend(learn: Learner, device: torch.device) -> GraphBackend:
    return TorchCudaGraph(device)


def _make_capturable(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Adam-like optimizers keep their step count on the device, so the step can be captured."""
    for group in opt.param_groups:
        if "capturable" in group:
            group["capturable"] = True
    for state in opt.state.values():
        step = state.get("step")
        if isinstance(step, Tensor) and step.device != device:
            state["step"] = step.to(device)
