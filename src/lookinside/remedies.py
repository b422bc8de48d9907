"""The remedies the diagnosis proposes, as functions a user may call.

Model transformations change a module in place and return it (a new module only where the
model itself is replaced): `kaiming_init`, `general_relu`, `add_norm`, `replace_norm`,
`unfreeze`, `drop_final_softmax`. Learner changes prepare a `Learner` before `fit`:
`lower_lr`, `find_lr`, `warm_up`, `clip_gradients`, `normalise_inputs`, `larger_batch`.

`CHANGES` maps a remedy's name, as a `Finding` gives it (`finding.remedies[i].name`), to the
change that applies it to a learner: what `try_remedies` runs.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .errors import LookinsideError
from .nn.layers import GeneralRelu
from .nn.norm_names import make_norm
from .nn.norms import BatchNorm, InstanceNorm
from .nn.running_batchnorm import RunningBatchNorm

if TYPE_CHECKING:
    from .learner import Learner

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
SQUASHING = (nn.ReLU, nn.Sigmoid, nn.Tanh)  # what `general_relu` replaces
NORM_TYPES: dict[str, tuple[type[nn.Module], ...]] = {
    "batch": (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, BatchNorm),
    "instance": (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, InstanceNorm),
    "running": (RunningBatchNorm,),
}
Change = Callable[["Learner"], object]


# ---------------------------------------------------------------- model transformations
def kaiming_init(model: nn.Module, leak: float = 0.0) -> nn.Module:
    """Re-initialise every conv and linear weight from kaiming's normal distribution, std
    √(2 / (1 + leak²)) / √fan_in (`leak`: the negative slope of the activation that follows,
    0 for ReLU), and zero its bias. Other parameters keep their values; the count is unchanged.
    """
    found = 0
    for m in model.modules():
        if isinstance(m, WEIGHTED):
            nn.init.kaiming_normal_(m.weight, a=leak, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            found += 1
    if not found:
        raise LookinsideError(f"kaiming_init found no conv or linear layer in {_name(model)}.")
    return model


def general_relu(
    model: nn.Module,
    leak: float = 0.1,
    sub: float = 0.4,
    maxv: float | None = 6.0,
    kinds: tuple[type[nn.Module], ...] = SQUASHING,
) -> nn.Module:
    """Replace every module of `kinds` (`nn.ReLU`, `nn.Sigmoid`, `nn.Tanh`) with the lesson's
    `GeneralRelu(leak, sub, maxv)`, whose units never go flat; each place a shared module
    fills gets its own. A Sigmoid that makes the model's output (probabilities for a BCE
    loss) is replaced too: pass `kinds=(nn.ReLU,)` to keep it. Activations called as
    functions inside a `forward` (`torch.relu(x)`) are out of reach and stay. No parameters
    are added. Returns the model (a GeneralRelu when the model is itself one activation)."""

    def make(old: nn.Module) -> nn.Module:
        return GeneralRelu(leak, sub, maxv)

    if isinstance(model, kinds):
        return make(model)
    if not _replace(model, kinds, make):
        raise LookinsideError(
            f"general_relu found no ReLU, Sigmoid or Tanh module in {_name(model)} (one called "
            "as a function in forward cannot be replaced from outside)."
        )
    return model


def add_norm(model: nn.Module, kind: str = "batch") -> nn.Module:
    """Insert a normalization right after each conv and linear layer held by an
    `nn.Sequential`, except the model's last such layer (its output). `kind="batch"`:
    `nn.BatchNorm1d/2d/3d` (for a linear layer: inputs of shape (N, features)); `"layer"`:
    `nn.LayerNorm` after a linear layer (sequences), `nn.GroupNorm(1, C)` after a conv.
    Each adds 2 parameters per output channel or feature. Layers inside a custom module's
    own `forward` are out of reach: the model must be built of Sequentials there."""
    if kind not in ("batch", "layer"):
        raise LookinsideError(f"add_norm's kind is 'batch' or 'layer', not {kind!r}.")
    weighted = [m for m in model.modules() if isinstance(m, WEIGHTED)]
    output = weighted[-1] if weighted else None
    added = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        children = [(name, child) for name, child in seq._modules.items() if child is not None]
        items: list[tuple[str, nn.Module]] = []
        for name, child in children:  # a module placed twice is met twice: each gets a norm
            items.append((name, child))
            if isinstance(child, WEIGHTED) and child is not output:
                items.append(
                    (_free_name(f"{name}_norm", seq._modules, items), _norm_after(child, kind))
                )
                added += 1
        if len(items) > len(children):
            numbered = all(name.isdigit() for name, _ in children)
            seq._modules = OrderedDict(
                (str(i), m) for i, (_, m) in enumerate(items)
            ) if numbered else OrderedDict(items)  # fmt: skip
    if not added:
        raise LookinsideError(
            f"add_norm found no conv or linear layer inside an nn.Sequential of {_name(model)} "
            "(but the output layer): add the normalization in the model's code."
        )
    return model


def _free_name(name: str, taken: Mapping[str, object], items: list[tuple[str, nn.Module]]) -> str:
    """`name`, or `name_2`, `name_3`...: the first that no child of the Sequential has."""
    used = {*taken, *(n for n, _ in items)}
    free, i = name, 1
    while free in used:
        i += 1
        free = f"{name}_{i}"
    return free


def _norm_after(layer: nn.Module, kind: str) -> nn.Module:
    """The normalization for the outputs of `layer`, on its device and in its dtype."""
    weight = layer.weight
    assert isinstance(weight, Tensor)
    if isinstance(layer, nn.Linear):
        width = layer.out_features
        norm: nn.Module = nn.BatchNorm1d(width) if kind == "batch" else nn.LayerNorm(width)
    else:
        assert isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
        width, dims = layer.out_channels, weight.ndim - 2
        batch = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1]
        norm = batch(width) if kind == "batch" else nn.GroupNorm(1, width)
    return norm.to(weight.device, weight.dtype)


def replace_norm(model: nn.Module, old: str = "batch", new: str = "running") -> nn.Module:
    """Replace every normalization of kind `old` (`batch`: torch's BatchNorm1d/2d/3d and
    lookinside's BatchNorm; `instance`; `running`) with lookinside's layer of kind `new`
    (any of `lookinside.nn.NORMS`: batch, layer, instance, group, running), same channels.
    `replace_norm(model, "batch", "running")` is the lesson's fix for small batches. The new
    layer learns a scale and a shift per channel: the parameter count is unchanged from an
    affine norm's, and grows by two per channel from one without (torch's InstanceNorm by
    default); the learned scales restart."""
    if old not in NORM_TYPES:
        raise LookinsideError(f"replace_norm's old kind is one of {', '.join(NORM_TYPES)}.")

    def make(norm: nn.Module) -> nn.Module:
        nf = getattr(norm, "num_features", None) or getattr(norm, "nf", None)
        assert isinstance(nf, int)
        made = make_norm(new, nf)
        tensors = [*norm.parameters(), *norm.buffers(), *model.parameters()]
        like = next((t for t in tensors if t.is_floating_point()), None)
        return made.to(like.device, like.dtype) if like is not None else made

    if isinstance(model, NORM_TYPES[old]):
        return make(model)
    if not _replace(model, NORM_TYPES[old], make):
        raise LookinsideError(f"replace_norm found no {old} normalization in {_name(model)}.")
    return model


def unfreeze(model: nn.Module) -> nn.Module:
    """Let every parameter learn again (`requires_grad_(True)`)."""
    return model.requires_grad_(True)


def drop_final_softmax(model: nn.Module) -> nn.Module:
    """Remove an `nn.Softmax` or `nn.LogSoftmax` that ends an `nn.Sequential` model (or its
    last Sequential): the loss gets logits and makes probabilities itself."""
    seq = model
    while isinstance(seq, nn.Sequential) and len(seq):
        last = seq[-1]
        if isinstance(last, (nn.Softmax, nn.LogSoftmax)):
            del seq[len(seq) - 1]
            return model
        seq = last
    raise LookinsideError(
        f"drop_final_softmax found no Softmax module ending {_name(model)}: remove the softmax "
        "from the model's forward."
    )


def _replace(
    model: nn.Module,
    kinds: tuple[type[nn.Module], ...],
    make: Callable[[nn.Module], nn.Module],
) -> int:
    """Replace each submodule of one of `kinds` by `make(it)`; the number replaced."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):  # a shared module at each place
            if isinstance(child, kinds):
                setattr(parent, name, make(child))
                replaced += 1
    return replaced


def _name(model: nn.Module) -> str:
    return f"the {type(model).__name__}"


# ---------------------------------------------------------------- learner changes
def lower_lr(learn: Learner, factor: float = 10.0) -> Learner:
    """Divide the learner's learning rate by `factor`."""
    return _set_lr(learn, learn.lr / factor)


def _set_lr(learn: Learner, lr: float) -> Learner:
    """The learner's lr, and its optimizer's when it has one already (`fit` keeps it)."""
    learn.lr = lr
    if learn.opt is not None:
        learn.set_hyper("lr", lr)
    return learn


def find_lr(learn: Learner) -> Learner:
    """Set the learning rate to the finder's suggestion (`learn.lr_find()`); the weights are
    left as they were."""
    found = learn.lr_find()
    if found.suggestion is None:
        raise LookinsideError(f"the learning-rate finder found no lr to suggest ({found.rule}).")
    return _set_lr(learn, found.suggestion)


def warm_up(learn: Learner, pct_start: float = 0.25) -> Learner:
    """Train every later fit with one-cycle's lr schedule: up from lr/25 to the learner's lr
    (as it is when the step runs) over `pct_start` of the steps, then down (see
    `Learner.fit_one_cycle`)."""
    from .callbacks.param_scheduler import ParamScheduler
    from .schedules import one_cycle

    shape = one_cycle(1.0, pct_start=pct_start)
    learn.add_cbs([ParamScheduler("lr", lambda pct: learn.lr * shape(pct))])
    return learn


def clip_gradients(learn: Learner, max_norm: float = 1.0) -> Learner:
    """Clip the gradients' global norm to `max_norm` before each step (`GradientClip`)."""
    from .callbacks.guards import GradientClip

    learn.add_cbs([GradientClip(max_norm)])
    return learn


def normalise_inputs(learn: Learner, batches: int = 20) -> Learner:
    """Normalise every batch's inputs with the mean and std of the first `batches` training
    batches (per channel for images: inputs of 4 dimensions), as a `BatchTransform`."""
    from .callbacks.batch_transform import BatchTransform

    seen = []
    for i, batch in enumerate(learn.dls.train):
        if i == batches:
            break
        x = batch[0] if isinstance(batch, (tuple, list)) else None
        if not (isinstance(x, Tensor) and x.is_floating_point()):
            raise LookinsideError(
                "normalise_inputs standardises float inputs, the first item of each batch; "
                f"this learner's are {type(x).__name__ if x is None else x.dtype}."
            )
        seen.append(x)
    if not seen:
        raise LookinsideError("normalise_inputs found no training batch.")
    x = torch.cat(seen)
    dims = [0, 2, 3] if x.ndim == 4 else list(range(x.ndim))
    mean, std = x.mean(dims, keepdim=True), x.std(dims, keepdim=True).clamp_min(1e-8)
    learn.add_cbs([BatchTransform(functools.partial(_standardise, mean=mean, std=std))])
    return learn


def _standardise(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return (x - mean.to(x.device)) / std.to(x.device)


def larger_batch(learn: Learner, bs: int = 32) -> Learner:
    """Train on batches of `bs` items (the learner's own `TensorLoader` only: a torch
    DataLoader fixes its batch size when it is built)."""
    from .data import TensorLoader

    train = getattr(learn.dls, "train", None)
    if not isinstance(train, TensorLoader):
        raise LookinsideError(
            f"larger_batch changes a TensorLoader's batch size; rebuild the DataLoader with "
            f"batch_size={bs} instead."
        )
    train.bs = bs
    return learn


def on_model(transform: Callable[[nn.Module], nn.Module], name: str = "") -> Change:
    """A learner change that transforms the learner's model (its optimizer is rebuilt, on
    the new parameters, by the next `fit`); `name` says what it calls (the transform's)."""

    def change(learn: Learner) -> Learner:
        learn.model = transform(learn.model)
        learn.opt = None
        return learn

    change.__doc__ = transform.__doc__
    change.__name__ = name or getattr(transform, "__name__", "on_model")
    return change


def _non_saturating(model: nn.Module) -> nn.Module:
    """GeneralRelu for every ReLU, Sigmoid and Tanh, with weights whose kaiming gain fits it."""
    return kaiming_init(general_relu(model), leak=0.1)


_reinitialise = on_model(kaiming_init)
CHANGES: dict[str, Change] = {
    "kaiming_init": _reinitialise,
    "check_init": _reinitialise,  # a layer dead from the first step: initialise it again
    "general_relu": on_model(general_relu),
    "add_norm": on_model(add_norm),
    "non_saturating": on_model(_non_saturating, "general_relu + kaiming_init"),
    "not_instance_norm": on_model(
        functools.partial(replace_norm, old="instance", new="batch"),
        "replace_norm(instance, batch)",
    ),
    "steady_norm": on_model(
        functools.partial(replace_norm, old="batch", new="running"), "replace_norm(batch, running)"
    ),
    "unfreeze": on_model(unfreeze),
    "return_logits": on_model(drop_final_softmax),
    "lower_lr": lower_lr,
    "find_lr": find_lr,
    "raise_lr": find_lr,
    "warm_up": warm_up,
    "clip_gradients": clip_gradients,
    "normalise_inputs": normalise_inputs,
    "larger_batch": larger_batch,
}
# What each change sets: two changes combine (a trial's pair) only when they set different
# things (a lower lr and the finder's lr do not; GeneralRelu and kaiming init do).
TOUCHES: dict[str, frozenset[str]] = {
    "kaiming_init": frozenset({"init"}),
    "check_init": frozenset({"init"}),
    "general_relu": frozenset({"act"}),
    "add_norm": frozenset({"norm"}),
    "non_saturating": frozenset({"act", "init"}),
    "not_instance_norm": frozenset({"norm"}),
    "steady_norm": frozenset({"norm"}),
    "unfreeze": frozenset({"frozen"}),
    "return_logits": frozenset({"output"}),
    "lower_lr": frozenset({"lr"}),
    "find_lr": frozenset({"lr"}),
    "raise_lr": frozenset({"lr"}),
    "warm_up": frozenset({"sched"}),
    "clip_gradients": frozenset({"clip"}),
    "normalise_inputs": frozenset({"inputs"}),
    "larger_batch": frozenset({"bs"}),
}
