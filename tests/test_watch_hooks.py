"""LayerHooks: forward hooks attached and detached together, pinned for good."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lookinside.watch_hooks import LayerHooks


def test_attach_detach_pin_remove() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seen: list[str] = []
    hooks = LayerHooks([(model[0], lambda m, a, o: seen.append("0")),
                        (model[1], lambda m, a, o: seen.append("1"))], model)  # fmt: skip
    model(torch.zeros(1, 2))
    assert seen == ["0", "1"] and hooks.attached  # attached from the start
    hooks.detach()
    model(torch.zeros(1, 2))
    assert seen == ["0", "1"] and not hooks.attached and not model[0]._forward_hooks
    hooks.attach()
    hooks.attach()  # twice: still one hook each
    model(torch.zeros(1, 2))
    assert seen == ["0", "1"] * 2
    hooks.pin()
    hooks.detach()  # pinned: stays
    model(torch.zeros(1, 2))
    assert seen == ["0", "1"] * 3 and hooks.pinned
    hooks.remove()  # pinned or not
    model(torch.zeros(1, 2))
    assert seen == ["0", "1"] * 3 and not model[0]._forward_hooks and not model[1]._forward_hooks


def test_a_hook_on_the_root_goes_before_the_roots_other_hooks_however_late() -> None:
    model = nn.Linear(2, 2)
    order: list[str] = []

    def note(name: str) -> Any:
        return lambda m, a, o: order.append(name)

    hooks = LayerHooks([(model, note("layer"))], model)
    model.register_forward_hook(note("root bookkeeping"))
    hooks.detach()
    hooks.attach()  # attached again after the root's own hook
    model(torch.zeros(1, 2))
    assert order == ["layer", "root bookkeeping"]
