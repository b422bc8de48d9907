"""Gathered measuring: the small outputs of a forward and their gradients, measured together,
give what each measured in its hook gives, cost a few kernels per module at most, and never
read an output that something changed after the module returned it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import lookinside as li
from lookinside import watch_gather
from lookinside.telemetry import Telemetry


def deep_mlp(pairs: int, width: int = 16) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(pairs):
        layers += [nn.Linear(6 if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 3))


def train(model: nn.Module, steps: int = 6, **options: Any) -> li.Watcher:
    """SGD on a fixed stream of batches (seeded), watched."""
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with li.watch(model, **options) as w:
        for _ in range(steps):
            loss = model(torch.randn(32, 6, generator=gen)).pow(2).mean()
            w.record_loss(loss)
            loss.backward()
            opt.step()
            opt.zero_grad()
    return w


def assert_same(a: Telemetry, b: Telemetry) -> None:
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)  # NaN where NaN
    np.testing.assert_array_equal(a.hist, b.hist)


@pytest.mark.parametrize("limit", ["small", "held"])
def test_gathered_measures_equal_those_of_each_hook(
    monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    """Every statistic, light and detailed steps, outputs and gradients: the same whether
    the outputs are gathered, measured in their hooks (nothing small enough to gather), or
    gathered and measured every few modules (little may be held)."""
    gathered = train(deep_mlp(6), detail=2, hist_sample=64)
    assert len(gathered._gathered.together) >= 12  # the Linear and ReLU layers, not the last
    if limit == "small":
        monkeypatch.setattr(watch_gather, "SMALL", -1)
    else:
        monkeypatch.setattr(watch_gather, "HELD", 100)  # a measure every two outputs or so
    other = train(deep_mlp(6), detail=2, hist_sample=64)
    assert bool(other._gathered.together) == (limit == "held")
    assert_same(gathered.telemetry, other.telemetry)
    assert np.isfinite(gathered.telemetry["2"].field("gsum")).all()  # a gradient, every step


class Transposed(nn.Module):
    """Two pairs of layers whose outputs have as many values, in transposed shapes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a1, self.a2 = nn.Linear(6, 8), nn.Linear(8, 8)  # (N, 4, 8)
        self.b1, self.b2 = nn.Linear(4, 4), nn.Linear(4, 4)  # (N, 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a2(self.a1(x.view(-1, 1, 6).expand(-1, 4, 6)))
        return self.b2(self.b1(h.transpose(1, 2))).flatten(1)


def test_outputs_of_as_many_values_in_other_shapes_are_kept_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gathered = train(Transposed())
    assert len(gathered._gathered.together) == 4
    monkeypatch.setattr(watch_gather, "SMALL", -1)
    assert_same(gathered.telemetry, train(Transposed()).telemetry)


class Count(TorchDispatchMode):
    """Counts the kernels (ATen operators) run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.kernels += 1
        return func(*args, **(kwargs or {}))


def kernels_per_step(pairs: int, watched: bool) -> float:
    model = deep_mlp(pairs)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    w = li.watch(model) if watched else None
    x = torch.randn(8, 6)

    def step() -> None:
        model(x).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()

    for _ in range(2):
        step()  # the first forward measures in the hooks, and decides what to gather
    with Count() as count:
        for _ in range(4):  # one detailed step, three light ones
            step()
    if w is not None:
        w.remove()
    return count.kernels / 4


def test_a_step_costs_a_few_kernels_per_watched_module() -> None:
    """What watching adds to a step hardly grows with the modules: 80 more modules of the
    same kind add about 2 kernels each (autograd's copy of the gradient kept, and views),
    where measuring each in its hook took some 16."""
    extra = {n: kernels_per_step(n, True) - kernels_per_step(n, False) for n in (10, 50)}
    per_module = (extra[50] - extra[10]) / 80
    assert per_module <= 4, per_module


class LateInPlace(nn.Module):
    """Changes `a`'s output in place from its third forward on (after it was gathered)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards += 1
        h = self.a(x)
        if self.forwards >= 3:
            h.relu_()
        return self.c(self.b(h))


def test_an_output_changed_later_loses_that_step_then_is_measured_in_its_hook() -> None:
    model = LateInPlace()
    w = train(model, steps=5, modules=[("a", model.a), ("b", model.b), ("c", model.c)])
    t = w.telemetry
    a = t["a"]
    assert np.isfinite(a.field("n")[:2]).all() and np.isnan(a.field("n")[2])  # lost, not wrong
    assert (a.min[[0, 1, 3, 4]] < 0).all()  # what the Linear returned, before the ReLU
    assert np.isfinite(t["b"].mean).all() and np.isfinite(t["b"].field("gsum")).all()
    assert "a" not in {t.specs[i].name for i in w._gathered.together}


def test_an_output_an_in_place_activation_changes_is_never_gathered() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 8), nn.ReLU(inplace=True)
    )
    named = [(str(i), m) for i, m in enumerate(model)]
    t = train(model, steps=4, modules=named).telemetry
    for name in ("0", "2"):  # measured before their ReLU changed them: negative values
        assert (t[name].min < 0).all() and np.isfinite(t[name].field("gsum")).all()
    assert (t["1"].min == 0).all()


def test_gradients_from_autograd_grad_and_a_users_own_retained_gradient() -> None:
    """A loop that takes its gradients with `torch.autograd.grad` has them measured too; a
    watched output whose gradient the user asked autograd to keep keeps it."""
    model = deep_mlp(3)
    kept: list[torch.Tensor] = []

    def keep(module: nn.Module, args: Any, out: torch.Tensor) -> None:
        out.retain_grad()
        kept.append(out)

    model[2].register_forward_hook(keep)  # after watch's hook: watch asked first
    params = list(model.parameters())
    with li.watch(model) as w:
        for _ in range(4):
            loss = model(torch.randn(16, 6)).pow(2).mean()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    p -= 0.05 * g
    t = w.telemetry
    assert np.isfinite(t["2"].field("gsum")).all() and np.isfinite(t["3"].field("gsum")).all()
    assert all(out.grad is not None for out in kept)
