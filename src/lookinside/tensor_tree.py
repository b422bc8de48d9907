"""Batches as trees: tensors inside tuples, lists and dicts of them, mapped or listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor


def tree_map(fn: Callable[[Tensor], Tensor], x: Any) -> Any:
    """`fn` applied to every tensor in tuples, lists and dicts of them; other leaves kept."""
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, (tuple, list)):
        return type(x)(tree_map(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: tree_map(fn, v) for k, v in x.items()}
    return x


def tensors(x: Any) -> list[Tensor]:
    """The tensors of `x`, in `tree_map`'s order."""
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list, dict)):
        return [t for v in (x.values() if isinstance(x, dict) else x) for t in tensors(v)]
    return []
