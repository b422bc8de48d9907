"""Turn PyTorch's errors about a user's data into one sentence that names what is wrong.

Only called after an exception, so the training loop pays nothing for it.
"""

from __future__ import annotations

from typing import Any, NoReturn

from torch import Tensor, nn

from .errors import LookinsideError


def _expected(module: nn.Module) -> str | None:
    """The input shape `module` takes, in words, or None when it is not known here."""
    if isinstance(module, nn.modules.conv._ConvNd):
        spatial = {1: "L", 2: "H, W", 3: "D, H, W"}[len(module.kernel_size)]
        return f"(N, {module.in_channels}, {spatial})"
    if isinstance(module, nn.Linear):
        return f"(..., {module.in_features})"
    if isinstance(module, (nn.RNNBase, nn.MultiheadAttention)):
        n_l = "N, L" if module.batch_first else "L, N"
        width = module.input_size if isinstance(module, nn.RNNBase) else module.embed_dim
        return f"({n_l}, {width}) (batch_first={module.batch_first})"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return f"(N, {module.num_features}, ...)"
    if isinstance(module, nn.LayerNorm):
        return f"(..., {', '.join(map(str, module.normalized_shape))})"
    return None


def forward_error(model: nn.Module, xb: Any, error: Exception) -> Exception:
    """A `LookinsideError` naming the layer that refused the input and both shapes, or `error`
    itself when it is not about shapes or running the model again does not point at a layer."""
    if not any(word in str(error) for word in ("shape", "size", "channels")):
        return error
    names = {m: n for n, m in model.named_modules()}
    entered: list[tuple[nn.Module, tuple[int, ...]]] = []

    def record(module: nn.Module, args: tuple[Any, ...]) -> None:
        if args and isinstance(args[0], Tensor):
            entered.append((module, tuple(args[0].shape)))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(record) for m in leaves]
    try:
        model(*xb) if isinstance(xb, tuple) else model(xb)
    except Exception:  # the same failure again: the last layer entered is the culprit
        if entered:
            module, shape = entered[-1]
            layer = f"layer {names.get(module, '?')} ({type(module).__name__})"
            expected = _expected(module)
            if expected is None:  # say what PyTorch said
                said = str(error).strip().splitlines()[0][:200]
                return LookinsideError(f"{layer} refused inputs of shape {shape}: {said}")
            return LookinsideError(f"{layer} expects inputs of shape {expected} but got {shape}.")
    finally:
        for h in handles:
            h.remove()
    return error


def loss_error(pred: Any, yb: Any, error: Exception) -> Exception:
    """A `LookinsideError` for class targets outside the model's outputs, or `error` itself."""
    if (
        isinstance(pred, Tensor)
        and isinstance(yb, Tensor)
        and pred.ndim == 2
        and not yb.is_floating_point()
    ):
        n_classes = pred.shape[1]
        low, high = int(yb.min()), int(yb.max())
        if low < 0 or high >= n_classes:
            return LookinsideError(
                f"targets run from {low} to {high}, but the model gives {n_classes} classes "
                f"(0 to {n_classes - 1})."
            )
    return error


def reraise(original: Exception, explained: Exception) -> NoReturn:
    """Raise the explanation (chained to the original), or the original when there is none."""
    if explained is original:
        raise original
    raise explained from original
