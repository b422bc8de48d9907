"""What a trained learner is for, as fastai and Lightning users expect: predictions over a
data loader (`get_preds`) or for one input (`predict`), the loss and metrics on held-out data
(`validate`), and its weights saved and loaded (`save_weights`, `load_weights`). The
`Learner` methods of those names call these.

Predictions run the learner's loop over the batches, in evaluation mode and without
gradients, with the callbacks that shape each batch (the device, a batch transform, mixed
precision) and without those that record, schedule or show progress (those the lr finder
sidelines, and those marked `during_predictions = False`: nothing is logged, no epoch
counted); the loop's state is put back afterwards (`Learner.kept_loop_state`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .callback import Callback
from .callbacks.avg_stats import metric_name
from .errors import LookinsideError
from .events import CancelBatchException, Event
from .files import atomic_write_bytes
from .tensor_tree import tree_map
from .unwrap import unwrap

if TYPE_CHECKING:
    from .learner import Learner

WEIGHTS_FORMAT = "lookinside-weights-1"


class Gather(Callback):
    """Keeps each batch's predictions and targets, then skips the loss (a prediction needs
    none, and an input without targets has none to compute it from)."""

    order = 1000  # after every callback that shapes the batch or the prediction

    def __init__(self) -> None:
        self.preds: list[Any] = []
        self.targets: list[Any] = []

    def after_pred(self, learn: Learner) -> None:
        self.preds.append(_detached(learn.pred))
        self.targets.append(_detached(learn.yb))
        raise CancelBatchException


def run_predictions(learn: Learner, batches: Iterable[Any]) -> Gather:
    """Run the model over `batches` ((xb, yb) pairs) as `get_preds` does; what it kept."""
    gather = Gather()
    quiet = [cb for cb in learn.cbs if not (cb.during_lr_find and cb.during_predictions)]
    with learn.kept_loop_state(), learn.sidelined_cbs(quiet), learn.added_cbs([gather]):
        learn._fire(Event.before_fit)  # the model goes to the batches' device
        try:
            learn._validate(batches)
        finally:
            learn._fire(Event.after_fit)
    return gather


def get_preds(learn: Learner, dl: Iterable[Any] | None = None) -> tuple[Any, Any]:
    """The model's predictions over `dl` (default: the validation loader) and the targets,
    each joined along the batch axis, on the CPU."""
    batches = dl if dl is not None else learn.dls.valid
    if batches is None:
        raise LookinsideError("get_preds needs a loader: this learner has no validation data.")
    gather = run_predictions(learn, batches)
    if not gather.preds:
        raise LookinsideError("get_preds got no batch from the loader: it is empty.")
    return _joined(gather.preds), _joined(gather.targets)


def predict(learn: Learner, x: Any, batch: bool = False) -> Any:
    """The model's prediction for one input `x` (a tensor, or a tuple of the model's
    inputs), without its batch axis; with `batch`, for a batch of inputs as it is."""
    xb = x if batch else tree_map(lambda t: t.unsqueeze(0), x)
    gather = run_predictions(learn, [(xb, None)])
    pred = gather.preds[0]
    return pred if batch else tree_map(lambda t: t.squeeze(0), pred)


def validate(learn: Learner, dl: Iterable[Any] | None = None) -> dict[str, float]:
    """The loss and each metric over `dl` (default: the validation loader), over all its
    items at once: `{"valid_loss": ..., "valid_<metric>": ...}`."""
    preds, targets = get_preds(learn, dl)
    with torch.no_grad():
        out = {"valid_loss": float(learn.loss_func(preds, targets))}
        for metric in learn.metrics:
            out[f"valid_{metric_name(metric)}"] = float(metric(preds, targets))
    return out


def save_weights(learn: Learner, path: str | os.PathLike[str], with_opt: bool = False) -> Path:
    """Write the model's weights (and, `with_opt`, the optimizer's state) to `path`,
    atomically; returns the path."""
    state = {
        "format": WEIGHTS_FORMAT,
        "model": unwrap(learn.model).state_dict(),
        "opt": learn.opt.state_dict() if with_opt and learn.opt is not None else None,
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def load_weights(learn: Learner, path: str | os.PathLike[str], with_opt: bool = False) -> None:
    """Load weights `save_weights` wrote (plain tensors only: `weights_only=True`) into the
    model, and with `with_opt` the optimizer's state, or raise one sentence saying why not."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise LookinsideError(f"{path} does not exist.") from None
    except Exception as e:  # a pickle, a torn file: not ours to read
        raise LookinsideError(
            f"{path} is not a lookinside weights file ({type(e).__name__})."
        ) from None
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise LookinsideError(f"{path} is not a lookinside weights file (learn.save writes one).")
    try:
        unwrap(learn.model).load_state_dict(state["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise LookinsideError(f"{path} holds weights of another model: {first}") from None
    if with_opt:
        if state["opt"] is None:
            raise LookinsideError(f"{path} holds no optimizer state (save it with with_opt=True).")
        if learn.opt is None:
            learn.create_opt()
        assert learn.opt is not None
        learn.opt.load_state_dict(state["opt"])


def _detached(x: Any) -> Any:
    return tree_map(lambda t: t.detach(), x)


def _joined(parts: list[Any]) -> Any:
    """Batches' tensors (or tuples, lists, dicts of them) joined along the batch axis, on the
    CPU; None stays None (targets a prediction was not given)."""
    first = parts[0]
    if isinstance(first, Tensor):
        return torch.cat(parts).cpu()
    if isinstance(first, (tuple, list)):
        return type(first)(_joined([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _joined([p[k] for p in parts]) for k in first}
    return None if first is None else parts
