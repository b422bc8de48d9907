"""`Hook` and `Hooks`: PyTorch module hooks as context managers with idempotent removal.

The lesson's hooks stored statistics on the hook object itself, so the function a `Hook` calls
receives the hook first: `fn(hook, module, input, output)` (for backward hooks,
`fn(hook, module, grad_input, grad_output)`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

HookFn = Callable[..., Any]


class Hook:
    """A forward (or full backward) hook on one module; `remove()` is safe to call twice.

    Use it in a `with` block (removed on exit, also on an exception) or call `remove()`:
    nothing relies on `__del__`.
    """

    def __init__(self, module: nn.Module, fn: HookFn, forward: bool = True) -> None:
        self.module, self.forward = module, forward
        self.stored: Any = None  # a place for the hook function's results, as in the lesson

        def call(mod: nn.Module, a: Any, b: Any) -> Any:
            return fn(self, mod, a, b)

        register = module.register_forward_hook if forward else module.register_full_backward_hook
        self._handle: RemovableHandle | None = register(call)

    @property
    def active(self) -> bool:
        """Whether the hook is still registered."""
        return self._handle is not None

    def remove(self) -> None:
        """Unregister the hook (idempotent)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> Hook:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        kind = "forward" if self.forward else "backward"
        return f"Hook({type(self.module).__name__}, {kind}, {state})"


class Hooks:
    """One `Hook` per module, as a sized, iterable, indexable context manager."""

    def __init__(self, modules: Iterable[nn.Module], fn: HookFn, forward: bool = True) -> None:
        self.hooks: list[Hook] = []
        try:
            for m in modules:
                self.hooks.append(Hook(m, fn, forward))
        except BaseException:
            self.remove()
            raise

    def __getitem__(self, i: int) -> Hook:
        return self.hooks[i]

    def __len__(self) -> int:
        return len(self.hooks)

    def __iter__(self) -> Iterator[Hook]:
        return iter(self.hooks)

    def remove(self) -> None:
        """Unregister every hook (idempotent)."""
        for h in self.hooks:
            h.remove()

    def __enter__(self) -> Hooks:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"Hooks({len(self)} hooks)"
