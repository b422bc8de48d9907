"""What `watch` needs to know of `torch.compile`: whether code runs compiled, whether a model
holds a compiled block, and `eager`, for the bookkeeping a graph must not trace."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar, cast

import torch
from torch import nn

Fn = TypeVar("Fn", bound=Callable[..., Any])


def called_from_compiled_code() -> bool:
    """Whether the caller runs inside `torch.compile`'d code (a compiled module or function
    up the stack): read at the first recorded forward, then as steps open while the layers'
    hooks are detached (a walk up the stack: a few µs)."""
    from torch._dynamo import eval_frame

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, eval_frame.OptimizedModule) or (
            isinstance(owner, eval_frame._TorchDynamoContext)
            and not isinstance(owner, eval_frame.DisableContext)
        ):
            return True
        frame = frame.f_back
    return False


def holds_compiled(model: nn.Module) -> bool:
    """Whether a module inside `model` is compiled (`torch.compile(block)` put in its place,
    or `block.compile()`), though the model itself runs eagerly: its graph holds the hooks
    of the layers inside it, so they must stay. Looked at before each detaching."""
    from torch._dynamo.eval_frame import OptimizedModule

    return any(isinstance(m, OptimizedModule) or getattr(m, "_compiled_call_impl", None)
               for m in model.modules())  # fmt: skip


def eager(fn: Fn) -> Fn:
    """`fn` runs as plain Python even inside a compiled model: the bookkeeping of steps,
    which `torch.compile` must not trace (its graph would depend on every step's count)."""
    return cast(Fn, torch.compiler.disable(fn))  # type: ignore[no-untyped-call]
