"""watch and torch.compile, in either order: the statistics equal eager ones, and after a
warm-up every step runs one graph, compiled once (no recompilation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

import lookinside as li
from lookinside.telemetry import FIELD, Telemetry

STEPS, WARM_UP = 8, 2
# torch's own warnings while compiling (dynamo reads `.grad` of the tensors it traces; the
# inductor imports torch.jit): not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated"),
]


def mlp(small: bool = False) -> nn.Sequential:
    if small:  # fewer kernels for the C++ compiler
        return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 4))
    return nn.Sequential(
        nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 4)
    )


class Counting:
    """A torch.compile backend (aot_eager inside) that counts the graphs it compiles and
    the calls of each."""

    def __init__(self, inner: str = "aot_eager") -> None:
        self.inner = torch._dynamo.lookup_backend(inner)
        self.compiled = 0
        self.calls: list[int] = []

    def __call__(self, gm: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> Callable[..., Any]:
        index, self.compiled = self.compiled, self.compiled + 1
        run = self.inner(gm, inputs)

        def counted(*args: Any) -> Any:
            self.calls.append(index)
            return run(*args)

        return counted


class LogSoftmaxNet(nn.Module):
    """A model whose output is no watched layer's: a functional log-softmax after them."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.body(x), -1)


class Siamese(nn.Module):
    """One encoder applied to both halves of the input (a module called twice a step)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x[:, :12]) - self.encoder(x[:, 12:])


MODELS: dict[str, Callable[[], nn.Module]] = {
    "mlp": mlp, "small": lambda: mlp(small=True), "log_softmax": LogSoftmaxNet,
    "siamese": Siamese, "pair": mlp, "accumulate": mlp,
}  # fmt: skip


def train(
    order: str, backend: Any = "aot_eager", kind: str = "mlp"
) -> tuple[Telemetry, list[int], list[list[int]]]:
    """Train a model of `kind` for STEPS steps (then one evaluation forward); returns the
    telemetry, the graphs compiled by each step's end and the graphs each step called. A
    `pair` step runs the model twice, then one backward."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = MODELS[kind]()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    counting = backend if isinstance(backend, Counting) else None
    if order == "compile-then-watch":
        run = torch.compile(model, backend=backend)
        w = li.watch(run)
    elif order == "watch-then-compile":
        w = li.watch(model)
        run = torch.compile(model, backend=backend)
    else:
        w, run = li.watch(model), model
    torch.manual_seed(1)
    width = 24 if kind == "siamese" else 12
    xs, ys = torch.randn(STEPS, 64, width), torch.randint(0, 4, (STEPS, 64))
    compiled, called = [], []
    for x, y in zip(xs, ys, strict=True):
        before = len(counting.calls) if counting else 0
        if kind == "accumulate":  # six micro-batches, each with its backward
            for part, target in zip(x.chunk(6), y.chunk(6), strict=True):
                loss = F.cross_entropy(run(part), target)
                loss.backward()
        else:
            out = run(x) - run(x.flip(0)) if kind == "pair" else run(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
        w.record_loss(loss)
        opt.step()
        opt.zero_grad()
        compiled.append(counting.compiled if counting else 0)
        called.append(counting.calls[before:] if counting else [])
    with torch.no_grad():
        run.eval()(xs[0])  # evaluation: not a step
    w.remove()
    return w.telemetry, compiled, called


def assert_same(eager: Telemetry, compiled: Telemetry) -> None:
    """Equal wherever both measured (a compiled step measures the details at every step)."""
    assert [s.name for s in compiled.specs] == [s.name for s in eager.specs]
    np.testing.assert_array_equal(compiled.steps, eager.steps)
    measured = ~np.isnan(eager.values)
    assert (~np.isnan(compiled.values) | ~measured).all(), "compiled left out a statistic"
    np.testing.assert_allclose(compiled.values[measured], eager.values[measured], rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(compiled.losses, eager.losses, rtol=1e-5)
    both = ~np.isnan(eager.hist)
    np.testing.assert_array_equal(compiled.hist[both], eager.hist[both])


@pytest.mark.parametrize(
    ("order", "kind"),
    [("compile-then-watch", "mlp")]
    + [("watch-then-compile", kind) for kind in ("mlp", "log_softmax", "siamese", "accumulate")],
)
def test_compiled_telemetry_equals_eager_with_one_graph_after_warm_up(
    order: str, kind: str
) -> None:
    eager, _, _ = train("eager", kind=kind)
    backend = Counting()
    compiled, graphs, called = train(order, backend, kind=kind)
    assert_same(eager, compiled)
    assert graphs[WARM_UP - 1] == graphs[-1], f"recompiled after the warm-up: {graphs}"
    forwards = 6 if kind == "accumulate" else 1
    assert all(len(c) == forwards for c in called[WARM_UP:]), f"graphs called: {called}"
    assert len({g for c in called[WARM_UP:] for g in c}) == 1, f"graphs called: {called}"
    assert not compiled.meta["not_recorded"]
    assert [s.calls for s in compiled.specs] == [s.calls for s in eager.specs]


def test_two_forwards_then_one_backward_compiled() -> None:
    """A pair through the compiled model, then one backward: no error (the graph keeps the
    rows it wrote for its backward), one step per optimizer step once one was taken."""
    eager, _, _ = train("eager", kind="pair")
    compiled, _, called = train("watch-then-compile", Counting(), kind="pair")
    assert compiled.steps.tolist() == eager.steps.tolist() == list(range(STEPS + 1))
    assert all(len(c) == 2 for c in called[WARM_UP:])  # the model's graph, twice a step
    later = eager.values[2:]
    measured = ~np.isnan(later)
    np.testing.assert_allclose(compiled.values[2:][measured], later[measured], rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    gn = FIELD["gn"]  # the first forward's step, filed before the backward: not measured
    assert np.isnan(compiled.values[0, :, gn]).all() and np.isnan(eager.values[0, :, gn]).all()


def test_compiled_with_inductor_equals_eager() -> None:
    """The real compiler on the CPU (C++ code generation): the same numbers."""
    eager, _, _ = train("eager", kind="small")
    compiled, _, _ = train("watch-then-compile", "inductor", kind="small")
    assert_same(eager, compiled)


class Late(nn.Module):
    """An MLP whose extra layer joins at step 3 (a branch taken later)."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.extra, self.on = mlp(), nn.Linear(4, 4), False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return self.extra(out) if self.on else out


def test_a_layer_first_seen_later_eager_steps_first_and_long_accumulation() -> None:
    """What the ring of traced rows must survive: a layer first seen after the warm-up,
    eager steps before compiling, six forwards and backwards per optimizer step."""
    torch.manual_seed(0)
    model = Late()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = li.watch(model, modules=[model.body[0], model.body[2], model.extra])
    x = torch.randn(64, 12)
    for step in range(8):
        model.on = step >= 5
        run = model if step < 2 else torch.compile(model, backend="aot_eager")
        for _ in range(6 if step >= 6 else 1):
            run(x).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    w.remove()
    t = w.telemetry
    assert t.steps.tolist() == list(range(8))
    n = t["body.0"].field("n")
    assert n[:2].tolist() == [64 * 32] * 2 and n[6:].tolist() == [6 * 64 * 32] * 2
    assert np.isnan(t["extra"].field("n")[:5]).all() and (t["extra"].field("n")[6:] > 0).all()
    with torch.no_grad():
        expected = model.body[0](x).amax().item()  # the weights moved since; close enough
    assert t["body.0"].max[-1] == pytest.approx(expected, rel=0.2)


def test_compiled_after_eager_steps_while_the_hooks_are_detached() -> None:
    """Recording every 4th step, the layers' hooks are detached after step 0; the model is
    compiled at step 2, unrecorded: the hooks are attached again before its graph is traced,
    and stay, so the compiled record equals the eager one, and after a warm-up (the first
    compiled step sees the layers) each step calls one graph, compiled once."""

    def record(compiled: bool) -> tuple[Telemetry, list[int], list[list[int]]]:
        torch._dynamo.reset()
        torch.manual_seed(0)
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        w = li.watch(model, every=4)
        counting = Counting()
        fast = torch.compile(model, backend=counting)
        torch.manual_seed(1)
        xs, ys = torch.randn(10, 64, 12), torch.randint(0, 4, (10, 64))
        graphs, called = [], []
        for step, (x, y) in enumerate(zip(xs, ys, strict=True)):
            before = len(counting.calls)
            run = fast if compiled and step >= 2 else model
            loss = F.cross_entropy(run(x), y)
            w.record_loss(loss)
            loss.backward()
            opt.step()
            opt.zero_grad()
            graphs.append(counting.compiled)
            called.append(counting.calls[before:])
        w.remove()
        return w.telemetry, graphs, called

    eager, _, _ = record(compiled=False)
    compiled, graphs, called = record(compiled=True)
    assert eager.steps.tolist() == [0, 4, 8]
    assert_same(eager, compiled)
    assert graphs[3] == graphs[-1], f"recompiled after the warm-up: {graphs}"
    assert all(len(c) == 1 for c in called[3:]) and len({c[0] for c in called[3:]}) == 1
