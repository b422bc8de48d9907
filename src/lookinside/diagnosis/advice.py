"""Remedies that fit the reader and the run: what to change in code (the function or module to
use) and, for a `lookinside train` run, the flag; never a remedy that the run already uses.

`Setup` gathers what the run already does, from the telemetry (the model's normalization and
activation layers, the weights' gains when first seen, the optimizer's learning rate) and,
for a command-line run, from its options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..telemetry import Telemetry
from .findings import Remedy

KAIMING_GAIN = 1.2  # a measured std(W)·√fan_in at least this is kaiming's √2 (ReLU) or near
LEAKY = ("GeneralRelu", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish")


@dataclass(frozen=True)
class Setup:
    """What the run already uses, and whether its reader uses the command line (`cli`)."""

    cli: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    norm_layers: tuple[str, ...] = ()
    activations: tuple[str, ...] = ()
    gains: Mapping[str, float] = field(default_factory=dict)
    lr: float | None = None

    @classmethod
    def of(cls, telemetry: Telemetry, options: Mapping[str, Any] | None = None) -> Setup:
        """The setup of a recorded run; `options`: a `lookinside train` run's configuration."""
        meta = telemetry.meta
        lr = meta.get("lr")
        if lr is None and options is not None and isinstance(options.get("lr"), (int, float)):
            lr = float(options["lr"])
        return cls(
            cli=options is not None,
            options=dict(options or {}),
            norm_layers=tuple(meta.get("norm_layers", ())),
            activations=tuple(meta.get("activations", ())),
            gains={s.name: s.init_gain for s in telemetry.specs if s.init_gain is not None},
            lr=float(lr) if lr is not None else None,
        )

    def option(self, name: str) -> Any:
        """A command-line option's value (None for a Python run)."""
        return self.options.get(name)


Make = Callable[[Setup, Sequence[str]], Remedy | None]


def kaiming(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """Kaiming initialisation, unless the run uses it (said by its options or its weights)."""
    init = setup.option("init")
    if isinstance(init, str) and init.startswith("kaiming"):
        return None
    gains = [setup.gains[n] for n in layers if n in setup.gains] or list(setup.gains.values())
    if init is None and gains and all(abs(g - 2**0.5) < 2**0.5 - KAIMING_GAIN for g in gains):
        return None  # the weights already have kaiming's gain
    return Remedy(
        "kaiming_init",
        "initialise the weights with kaiming's gain, √2/√fan_in for ReLU",
        "lookinside.nn.init_cnn(model), or torch.nn.init.kaiming_normal_(m.weight) on each "
        "conv and linear layer",
        options={"init": "kaiming"},
    )


def norm(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """A normalization layer, unless the model has one."""
    if setup.norm_layers or setup.option("norm") not in (None, "none"):
        return None
    return Remedy(
        "add_norm",
        "add a normalization layer after each conv or linear layer",
        "lookinside.remedies.add_norm(model), or torch.nn.BatchNorm2d/1d after each layer "
        "(torch.nn.LayerNorm for sequences)",
        options={"norm": "batch"},
    )


def leaky(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """A leaky activation, unless the model uses one."""
    if setup.option("act") == "general" or any(a in LEAKY for a in setup.activations):
        return None
    return Remedy(
        "general_relu",
        "use a leaky activation, whose units never go flat",
        "lookinside.remedies.general_relu(model) (GeneralRelu(leak=0.1, sub=0.4, maxv=6.0) "
        "for each ReLU), or torch.nn.LeakyReLU(0.1)",
        options={"act": "general"},
    )


def lower_lr(setup: Setup, layers: Sequence[str]) -> Remedy:
    """A learning rate ten times lower (the run's own, when known)."""
    now = f" (it reached {setup.lr:g})" if setup.lr else ""
    return Remedy(
        "lower_lr",
        f"lower the learning rate{now}, ten times for a start",
        "the lr given to the Learner or the optimizer; learn.lr_find() suggests one",
        "" if setup.lr else "--lr with a smaller value",
        {"lr": float(f"{setup.lr / 10:.3g}")} if setup.lr else {},
    )


def warm_up(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """A warm-up schedule, unless the run has one."""
    if setup.option("sched") == "one-cycle":
        return None
    return Remedy(
        "warm_up",
        "warm the learning rate up from a small value",
        "learn.fit_one_cycle(epochs, lr_max), or a ParamScheduler with sched_lin",
        options={"sched": "one-cycle"},
    )


def clip(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """Gradient clipping, unless the run clips."""
    if setup.option("clip") is not None:
        return None
    return Remedy(
        "clip_gradients",
        "clip the gradients' norm",
        "lookinside.callbacks.GradientClip(1.0), or torch.nn.utils.clip_grad_norm_",
        options={"clip": 1.0},
    )


def raise_lr(setup: Setup, layers: Sequence[str]) -> Remedy:
    """A higher learning rate, found by the finder."""
    now = f" (it reached {setup.lr:g})" if setup.lr else ""
    return Remedy(
        "raise_lr",
        f"raise the learning rate{now}: the learning-rate finder suggests one",
        "learn.lr_find().suggestion",
        options={"lr": "auto"},
    )


def not_instance_norm(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """Another normalization, when the model has InstanceNorm (the lesson's failed variant)."""
    if not any(n.startswith("InstanceNorm") for n in setup.norm_layers):
        return None
    return Remedy(
        "not_instance_norm",
        "replace InstanceNorm: it normalises each image's channels on their own, erasing the "
        "brightness and contrast a classifier may need, and on small maps most of the signal "
        "and its gradient",
        "lookinside.remedies.replace_norm(model, 'instance', 'batch'), or torch.nn.BatchNorm2d "
        "or torch.nn.GroupNorm (InstanceNorm suits style transfer)",
        options={"norm": "batch"},
    )


def steady_norm(setup: Setup, layers: Sequence[str]) -> Remedy:
    """A normalization that does not lean on the batch's own statistics."""
    return Remedy(
        "steady_norm",
        "normalise with statistics that a small batch cannot shake",
        "lookinside.remedies.replace_norm(model, 'batch', 'running') (RunningBatchNorm: "
        "running averages in training too), or torch.nn.GroupNorm / LayerNorm, which do not "
        "use the batch",
        options={"norm": "running"},
    )


def larger_batch(setup: Setup, layers: Sequence[str]) -> Remedy:
    """A batch large enough for BatchNorm's statistics."""
    return Remedy(
        "larger_batch",
        "train on larger batches, 32 items or more",
        "DataLoader(..., batch_size=32), with gradient accumulation if memory is short",
        options={"bs": 32},
    )


def find_lr(setup: Setup, layers: Sequence[str]) -> Remedy | None:
    """The learning-rate finder, unless the run used it: a plateau whose weights move says
    the lr is wrong, not in which direction; an lr far too high is not cured by a tenth of it."""
    if setup.option("lr") == "auto":
        return None
    now = f" (it reached {setup.lr:g})" if setup.lr else ""
    return Remedy(
        "find_lr",
        f"find the learning rate with the finder{now}: it tries them from far too low to far "
        "too high, so it finds the scale wherever the run's lr was",
        "learn.lr_find().suggestion, or lookinside.remedies.find_lr(learn)",
        options={"lr": "auto"},
    )


def fixed(name: str, text: str, code: str = "", flag: str = "") -> Make:
    """A remedy that always applies."""
    remedy = Remedy(name, text, code, flag)
    return lambda setup, layers: remedy


normalise_inputs = fixed(
    "normalise_inputs",
    "normalise the inputs with the training set's mean and std",
    "x = (x - mean) / std, with the training set's mean and std (per channel for images)",
)
check_data = fixed(
    "check_data",
    "check the data for NaN and infinities",
    "torch.isfinite(x).all() over the inputs and targets",
)
in_optimizer = fixed(
    "optimize_all",
    "give every parameter to the optimizer",
    "torch.optim.SGD(model.parameters(), lr=...): a new layer added after the optimizer was "
    "built, or a parameter group left out, is never updated",
)
unfreeze = fixed(
    "unfreeze",
    "unfreeze the layers meant to learn",
    "layer.requires_grad_(True)",
)
logits = fixed(
    "return_logits",
    "return logits: the loss makes probabilities itself",
    "drop the final softmax or sigmoid (for probabilities at inference, apply it outside the loss)",
)
narrow_norm = fixed(
    "widen_norm",
    "the normalization in this layer makes its units constant: it normalises each over too "
    "few values",
    "InstanceNorm or GroupNorm on a 1x1 map (or LayerNorm over one value) outputs only its "
    "bias: normalise over more values (BatchNorm, GroupNorm over channels), or leave the "
    "normalization out where the map is 1x1",
)
check_init = fixed(
    "check_init",
    "look at the initialisation of this layer and of the one before it: the units are "
    "constant from the first step",
    "a large negative bias before a ReLU, weights of zero, or inputs far too large (inspect "
    "the layers' .bias and .weight, and the inputs' scale); lookinside.remedies."
    "kaiming_init(model) re-initialises every conv and linear layer, biases at zero",
)
labels = fixed(
    "check_labels",
    "check that each input is paired with its own label",
    "shuffle inputs and labels with one permutation; look at a few (input, label) pairs",
)
regularise = fixed(
    "regularise",
    "regularise: more data or augmentation, weight decay, dropout, or stopping early",
    "lookinside.callbacks.EarlyStopping(monitor='valid_loss'), torch.optim.AdamW(weight_decay=)",
)
non_saturating = fixed(
    "non_saturating",
    "keep the pre-activations small, or use a non-saturating activation",
    "kaiming or xavier init, a norm layer before the activation, or torch.nn.ReLU",
)
blocked = fixed(
    "unblock_gradient",
    "find what stops the gradient after this layer",
    "a .detach(), torch.no_grad(), an argmax or a rounding between it and the loss, or dead "
    "units after it",
)
record = fixed(
    "record_more",
    "watch the modules whose output holds float tensors",
    "li.watch(model, modules=[...]) with the modules to record",
)

REMEDIES: dict[str, tuple[Make, ...]] = {
    "inputs": (normalise_inputs,),
    "probabilities": (logits,),
    "not_updated": (in_optimizer,),
    "vanishing": (kaiming, norm),
    "exploding": (kaiming, norm),
    "exploding_growth": (lower_lr, find_lr, warm_up, clip, norm),
    "vanishing_gradients": (not_instance_norm, kaiming, norm, leaky),
    "exploding_gradients": (clip, lower_lr, norm),
    "non_finite": (lower_lr, find_lr, warm_up, clip, norm, check_data),
    "rise_and_crash": (warm_up, lower_lr, kaiming, norm),
    "oscillation": (lower_lr, find_lr, warm_up, clip),
    "dead_activations": (leaky, lower_lr, kaiming, norm),
    "dead_from_start": (check_init, leaky),
    "dead_normalized": (not_instance_norm, narrow_norm),
    "small_batch": (steady_norm, larger_batch),
    "saturation": (non_saturating, norm),
    "no_gradient": (blocked, leaky),
    "chance": (labels,),
    "no_learning": (raise_lr,),
    "plateau": (find_lr,),
    "overfitting": (regularise,),
    "frozen": (unfreeze,),
    "not_recorded": (record,),
}


def remedies(kind: str, setup: Setup, layers: Sequence[str]) -> tuple[Remedy, ...]:
    """The remedies (`REMEDIES[kind]`: a finding's kind, or a case of it) for `layers`, but
    those the run uses already."""
    found = (make(setup, layers) for make in REMEDIES[kind])
    return tuple(r for r in found if r is not None)


def advice(found: Sequence[Remedy], setup: Setup) -> str:
    """The remedies as one sentence for the run's reader."""
    return "; or ".join(r.render(setup.cli) for r in found)
