"""Hook and Hooks: what they record, and that they always go away."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import torch
from torch import nn

import lookinside as li


def store_mean(hook: li.Hook, module: nn.Module, inp: object, out: torch.Tensor) -> None:
    hook.stored = out.detach().mean()


def test_forward_and_backward_hooks_receive_the_hook_first() -> None:
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    grads: list[torch.Tensor] = []
    with (
        li.Hook(lin, store_mean) as h,
        li.Hook(lin, lambda hk, m, gi, go: grads.append(go[0]), forward=False),
    ):
        lin(x).sum().backward()
    assert torch.equal(h.stored, lin(x).detach().mean())
    assert torch.equal(grads[0], torch.ones(4, 2))
    assert not h.active and "removed" in repr(h)


def test_hooks_are_removed_when_the_with_block_raises_and_remove_is_idempotent() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    hooks = li.Hooks(model, store_mean)
    counts = [len(m._forward_hooks) for m in model]

    def fail_inside() -> None:
        with hooks:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert counts == [1, 1, 1]
    assert all(len(m._forward_hooks) == 0 for m in model)
    hooks.remove()
    hooks[0].remove()
    assert not any(h.active for h in hooks)


def test_hooks_are_sized_iterable_and_indexable() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    with li.Hooks(model, store_mean) as hooks:
        model(torch.randn(2, 3))
        assert len(hooks) == 3 and hooks[1].module is model[1]
        assert [h.stored.shape for h in hooks] == [torch.Size([])] * 3
        assert repr(hooks) == "Hooks(3 hooks)"


def test_no_growth_after_a_thousand_register_remove_cycles() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    x = torch.randn(4, 8)

    def cycle() -> None:
        with li.Hooks(model, store_mean):
            model(x)

    for _ in range(50):  # warm up allocator and caches
        cycle()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(1000):
        cycle()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert (
        grown < 64_000
    )  # bytes: no per-cycle leak (one leaked closure per cycle would be ~500 KB)
    assert all(len(m._forward_hooks) == 0 for m in model)
