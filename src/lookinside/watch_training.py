"""What `watch` learns of the training around the model: which optimizers step it (and which
of its parameters none of them holds), the learning rate they reach, and the loss function.

`OptimizerSpy` uses PyTorch's global optimizer step hook, so it sees a hand-written loop's
optimizer as well as the `Learner`'s; it reads the parameter groups on the host (plain
Python numbers) and never a tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_pre_hook


class OptimizerSpy:
    """Watches every optimizer step while registered; notes those holding `model`'s
    parameters. `remove()` unregisters it."""

    def __init__(self, model: nn.Module) -> None:
        self._own = {id(p) for p in model.parameters()}
        self._seen: set[int] = set()  # optimizers stepping this model
        self._held: set[int] = set()  # the parameters they hold
        self.facts: dict[str, Any] = {}  # the optimizer's class, the largest lr it reached
        self.steps = 0  # steps taken by the optimizers holding the model's parameters
        self._handle = register_optimizer_step_pre_hook(self._before_step)

    def _before_step(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if id(opt) not in self._seen:
            held = {id(p) for g in opt.param_groups for p in g["params"]}
            if not held & self._own:
                return  # another model's optimizer
            self._seen.add(id(opt))
            self._held |= held
            self.facts["optimizer"] = type(opt).__name__
        self.steps += 1
        lrs = [g["lr"] for g in opt.param_groups if isinstance(g.get("lr"), (int, float))]
        if lrs:
            self.facts["lr"] = max(float(max(lrs)), self.facts.get("lr", 0.0))

    def left_out(self, named: Sequence[tuple[str, nn.Module]]) -> list[str]:
        """The modules with a trainable parameter that no optimizer seen so far holds (none
        while no optimizer has stepped)."""
        if not self._seen:
            return []
        return [
            name
            for name, module in named
            if any(p.requires_grad and id(p) not in self._held for p in module.parameters())
        ]

    def remove(self) -> None:
        """Stop watching optimizer steps (idempotent)."""
        self._handle.remove()


LOSS_NAMES = {
    "NllLossBackward0": "nll",
    "BinaryCrossEntropyWithLogitsBackward0": "bce_with_logits",
    "BinaryCrossEntropyBackward0": "bce",
    "MseLossBackward0": "mse",
    "L1LossBackward0": "l1",
}


def loss_name(loss: Tensor) -> str:
    """What loss function made `loss`, read from its autograd graph: `cross_entropy` for a
    log-softmax followed by NLL, else a short name (or the node's class)."""
    fn = loss.grad_fn
    if fn is None:
        return "unknown"
    name = type(fn).__name__
    if name == "NllLossBackward0":
        inner = fn.next_functions[0][0]
        if inner is not None and type(inner).__name__ == "LogSoftmaxBackward0":
            return "cross_entropy"
    return LOSS_NAMES.get(name, name)
