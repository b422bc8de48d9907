"""Which modules `watch` hooks by default, and what it knows of each output before measuring.

The default is the model's blocks: its children, looking inside the containers that hold
several weight layers (an `nn.Sequential` MLP, a `ModuleList` of Transformer layers, a ResNet
stage of blocks) and inside the modules that hold such a container, however deep (a Hugging
Face `BertModel`: its embeddings, each layer of `encoder.layer`, the pooler), but not inside
one block (a conv-norm-activation `Sequential`, a ResNet
`BasicBlock`, a `TransformerEncoderLayer`), and leaving out modules that only reshape, pool or
drop values (their statistics repeat the layer before). For the lesson's `cnn()`: each conv
block and the linear layer. For torchvision's ResNet: the stem's conv, norm and ReLU, each
block of each stage, and the classifier. For `nn.TransformerEncoder`: each of its layers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from .nn import BatchNorm, GeneralRelu, GroupNorm, Lambda, LayerNorm, RunningBatchNorm
from .nn import InstanceNorm as LessonInstanceNorm
from .telemetry import Bounds, LayerSpec

SHAPE_ONLY = (
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
    nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity, Lambda,
)  # fmt: skip
WEIGHT_LAYERS = (nn.Linear, nn.Bilinear, nn.Embedding, nn.EmbeddingBag, nn.RNNBase,
                 nn.MultiheadAttention, nn.modules.conv._ConvNd)  # fmt: skip
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
               *([nn.RMSNorm] if hasattr(nn, "RMSNorm") else []),  # torch 2.4 on
               BatchNorm, LayerNorm, LessonInstanceNorm, GroupNorm, RunningBatchNorm)  # fmt: skip
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
               nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid,
               nn.Hardswish, nn.Softsign, nn.Softplus, GeneralRelu)  # fmt: skip
# Normalizations that use the batch's own statistics in training (not RunningBatchNorm's).
BATCH_STATISTICS = (nn.modules.batchnorm._BatchNorm, BatchNorm)
CHANNEL_FIRST_1D = (nn.Conv1d, nn.BatchNorm1d, nn.InstanceNorm1d, nn.MaxPool1d, nn.AvgPool1d,
                    nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)  # fmt: skip
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def weight_layers(module: nn.Module) -> int:
    """The number of weight layers (conv, linear, embedding, recurrent, attention) inside."""
    return sum(isinstance(m, WEIGHT_LAYERS) for m in module.modules())


def _holds_blocks(module: nn.Module) -> bool:
    """Whether a module is a container of several weight layers, or holds one, however deep
    (as `nn.TransformerEncoder` holds its `layers`, a Hugging Face `BertModel` its
    `encoder.layer`)."""
    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        return True
    if isinstance(module, nn.Sequential):
        return weight_layers(module) > 1
    return any(
        (isinstance(c, CONTAINERS) and weight_layers(c) > 1 and len(c) > 1)
        or (not isinstance(c, CONTAINERS) and _holds_blocks(c))
        for c in module.children()
    )


def default_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's blocks by name (see this module's docstring), or the model itself when it
    has no children."""

    def visit(prefix: str, module: nn.Module, root: bool) -> Iterator[tuple[str, nn.Module]]:
        children = list(module.named_children())
        if children and (root or _holds_blocks(module)):
            for name, child in children:
                yield from visit(f"{prefix}.{name}" if prefix else name, child, False)
        elif not isinstance(module, SHAPE_ONLY):
            yield prefix or "model", module

    return list(visit("", model, True)) or [("model", model)]


def leaves(module: nn.Module) -> list[nn.Module]:
    """The modules without children inside `module` (itself if it has none)."""
    return [m for m in module.modules() if not list(m.children())] or [module]


def label(name: str, module: nn.Module) -> str:
    """`name Type(ChildType, ...)`: what a legend or a message calls the module."""
    kids = [type(c).__name__ for c in module.children()]
    inner = ", ".join(kids[:4]) + (", ..." if len(kids) > 4 else "")
    return f"{name} {type(module).__name__}" + (f"({inner})" if kids else "")


def bounds(module: nn.Module | None) -> Bounds | None:
    """The values a saturating activation pins its outputs to: (low, high), either None."""
    if isinstance(module, (nn.Sigmoid, nn.Hardsigmoid)):
        return (0.0, 1.0)
    if isinstance(module, (nn.Tanh, nn.Softsign)):
        return (-1.0, 1.0)
    if isinstance(module, nn.Hardtanh) and not isinstance(module, nn.ReLU6):
        return (float(module.min_val), float(module.max_val))
    if isinstance(module, nn.ReLU6):
        return (None, 6.0)
    if isinstance(module, GeneralRelu) and module.maxv is not None:
        return (None, float(module.maxv))
    return None


def histogram_range(
    x: Tensor, last: nn.Module | None, previous: LayerSpec | None
) -> tuple[float, float]:
    """The histogram's range [lo, hi) for a layer first seen giving `x`: a shape-only
    module keeps the layer's before; bounded activations (Sigmoid, Tanh) span their bounds;
    otherwise each side reaches twice the output's extreme (its 0.1 % and 99.9 % quantiles,
    over its first values), rounded out to 1, 2 or 5 times a power of ten, from the floor
    of a ReLU (0) or a GeneralRelu without leak, or from 0 when nothing is negative. The
    room is for training to move the values; what still falls outside is counted
    (`STAT_FIELDS`' `below` and `above`). One read of the device, once per layer."""
    if isinstance(last, SHAPE_ONLY) and previous is not None:
        return previous.lo, previous.hi
    low_bound, high_bound = bounds(last) or (None, None)
    if low_bound is not None and high_bound is not None:
        pad = HIST_PAD * (high_bound - low_bound)
        return low_bound - pad, high_bound + pad
    extremes = _extremes(x)
    if extremes is None:
        return (0.0, 10.0) if isinstance(last, (nn.ReLU, nn.ReLU6)) else (-7.0, 7.0)
    low, high = extremes
    floor = _floor(last)
    if floor is not None:
        lo = floor
        hi = floor + _nice(2 * (high - floor)) if high > floor else floor + 1.0
    else:
        lo = -_nice(-2 * low) if low < 0 else 0.0
        hi = _nice(2 * high) if high > 0 else 0.0
        hi = hi if hi > lo else lo + 1.0
    if high_bound is not None:  # a cap (ReLU6): the range needs not pass it
        hi = min(hi, high_bound + HIST_PAD * (high_bound - lo))
    return lo, hi


HIST_PAD = 0.025  # of the range, beyond an activation's bounds: values at a bound fall inside
QUANTILE_VALUES = 1 << 14  # values, at most, whose quantiles fit a histogram's range


def _extremes(x: Tensor) -> tuple[float, float] | None:
    """The 0.1 % and 99.9 % quantiles of the first finite values of `x` (None: none)."""
    if not x.is_floating_point():
        return None
    with torch.no_grad():
        values = x.detach().reshape(-1)[:QUANTILE_VALUES].float()
        values = values[torch.isfinite(values)]
        if not values.numel():
            return None
        q = torch.quantile(values, torch.tensor([0.001, 0.999], device=values.device))
        low, high = q.tolist()
    return low, high


def _floor(last: nn.Module | None) -> float | None:
    """The lowest value an activation gives, when it is its output at 0 (ReLU's)."""
    if isinstance(last, (nn.ReLU, nn.ReLU6)):
        return 0.0
    if isinstance(last, GeneralRelu) and not last.leak:
        return last.floor
    return None


def _nice(v: float) -> float:
    """The least of 1, 2 or 5 times a power of ten that is at least `v` (> 0)."""
    power = 10.0 ** math.floor(math.log10(v))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= v * (1 - 1e-9))


def unit_dim(x: Tensor, last: nn.Module | None) -> int:
    """The axis of an output's units: channels for images (N, C, H, W) and for a channel-first
    1-d module's (N, C, L); features, the last axis, otherwise ((N, F), (N, L, F))."""
    if x.ndim >= 4 or (x.ndim == 3 and isinstance(last, CHANNEL_FIRST_1D)):
        return 1
    return x.ndim - 1 if x.ndim else 0


def first_weight(module: nn.Module) -> Tensor | None:
    """The weight of the first linear or conv layer inside `module`, if any."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            return m.weight
    return None


def init_gain(module: nn.Module) -> Tensor | None:
    """std(W)·√fan_in of the first weight, as a device tensor (read later, on the host)."""
    w = first_weight(module)
    if w is None or w.numel() < 2:
        return None
    with torch.no_grad():
        return w.detach().float().std() * math.sqrt(w[0].numel())


def spec_for(
    name: str,
    module: nn.Module | None,
    module_name: str,
    path: str,
    x: Tensor,
    role: str,
    previous: LayerSpec | None,
) -> LayerSpec:
    """What is known of the output `x` of `module` at `path` (see `LayerSpec`)."""
    last = leaves(module)[-1] if module is not None else None
    lo, hi = histogram_range(x, last, previous)
    if module is None:
        params = trainable = 0
        kind = role
    else:
        ps = list(module.parameters())
        params = sum(p.numel() for p in ps)
        trainable = sum(p.numel() for p in ps if p.requires_grad)
        kind = label("", module).strip() + path
    return LayerSpec(
        name=name,
        label=label(name, module) if module is not None else name,
        lo=lo,
        hi=hi,
        role=role,
        module=module_name,
        kind=kind,
        bounds=bounds(last) if path == "" else None,
        unit_dim=unit_dim(x, last),
        ndim=x.ndim,
        normalized=isinstance(last, NORM_LAYERS),
        params=params,
        trainable=trainable,
    )


def first_batch_norm(model: nn.Module) -> nn.Module | None:
    """The first module that normalises with the batch's own statistics in training."""
    return next((m for m in model.modules() if isinstance(m, BATCH_STATISTICS)), None)


def model_facts(model: nn.Module) -> dict[str, Any]:
    """What the advice needs to know of a model: its normalization and activation layers."""
    norms = sorted({type(m).__name__ for m in model.modules() if isinstance(m, NORM_LAYERS)})
    acts = sorted({type(m).__name__ for m in model.modules() if isinstance(m, ACTIVATIONS)})
    return {"norm_layers": norms, "activations": acts}


def tensors_in(out: Any, path: str = "") -> Iterator[tuple[str, Tensor]]:
    """Every tensor inside a module's output, with its place: `""` for the output itself,
    `[0]`, `[1][0]`, `[logits]` inside tuples, lists, dicts (Hugging Face outputs included)
    and dataclasses (by field)."""
    if isinstance(out, Tensor):
        yield path, out
    elif isinstance(out, dict):
        for key, value in out.items():
            yield from tensors_in(value, f"{path}[{key}]")
    elif isinstance(out, (tuple, list)):
        for i, value in enumerate(out):
            yield from tensors_in(value, f"{path}[{i}]")
    elif dataclasses.is_dataclass(out) and not isinstance(out, type):
        for f in dataclasses.fields(out):
            yield from tensors_in(getattr(out, f.name), f"{path}[{f.name}]")


INPUT, OUTPUT = -1, -2  # positions of the model's own input and output among the watched


class LayerRegistry:
    """The layers a watcher has seen: one per (watched module, place in its output), numbered
    in the order the forward first produced them, with what is known of each."""

    def __init__(
        self,
        named: Sequence[tuple[str, nn.Module]],
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.names = [n for n, _ in named]
        self._ranges = dict(ranges or {})  # layer name -> its histogram range, given
        self.modules = [m for _, m in named]
        self.specs: list[LayerSpec] = []
        self.first: dict[int, int] = {}  # module position -> its first layer
        self._index: dict[tuple[int, str], int] = {}  # (module position, place) -> layer
        self._outputs: set[int] = set()  # layers whose tensor is the model's output
        self._gains: dict[int, Tensor] = {}  # layer -> init gain, on the device
        self._in_rms: dict[int, Tensor] = {}  # module position -> its input's rms, first seen
        self._positions: list[int] = []  # layer -> its module's position
        self._silent: dict[str, str] = {}  # module -> why its output was not recorded
        self._called: set[int] = set()
        self._calls: dict[int, int] = {}  # layer -> the most calls in one step, past one

    def layer(self, position: int, path: str, x: Tensor, role: str, args: Any = ()) -> int:
        """The layer of output `path` of the module at `position` (or the model's `INPUT`,
        `OUTPUT`), made at first sight; `args`: the module's inputs (whose std is noted)."""
        key = (position, path)
        layer = self._index.get(key)
        if layer is not None:
            return layer
        module = self.modules[position] if position >= 0 else None
        base = self.names[position] if position >= 0 else role
        previous = self.specs[-1] if self.specs else None
        module_name = base if position >= 0 else ""
        layer = len(self.specs)
        spec = spec_for(base + path, module, module_name, path, x, role, previous)
        if spec.name in self._ranges:
            lo, hi = self._ranges[spec.name]
            spec = replace(spec, lo=lo, hi=hi)
        self.specs.append(spec)
        self._index[key] = layer
        self._positions.append(position)
        if module is not None and position not in self.first:
            self.first[position] = layer
            gain = init_gain(module)
            if gain is not None:
                self._gains[layer] = gain
            inp = next((t for _, t in tensors_in(args) if t.is_floating_point()), None)
            if inp is not None and inp.numel():
                with torch.no_grad():  # the root mean square: what a layer's gain scales
                    self._in_rms[position] = inp.detach().float().square().mean().sqrt()
        return layer

    @property
    def index(self) -> dict[tuple[int, str], int]:
        """(module position, place in its output) -> layer, for the layers seen so far."""
        return self._index

    def called_again(self, layer: int, calls: int) -> None:
        """The layer's module ran `calls` times in the step so far."""
        self._calls[layer] = max(calls, self._calls.get(layer, 1))

    def is_output(self, layer: int) -> None:
        """The layer's tensor is what the model returns."""
        self._outputs.add(layer)

    def called(self, position: int, out: Any, recorded: bool) -> None:
        """The module at `position` (or the model, `OUTPUT`) ran in a recorded step (and left
        nothing to record)."""
        self._called.add(position)
        if not recorded:
            name = self.names[position] if position >= 0 else "the model's output"
            self._silent.setdefault(name, _what(out))

    def final_specs(self) -> list[LayerSpec]:
        """The specs, with what was learned since they were made: roles, the weights' initial
        gains and the inputs' first rms (read from the device once, here)."""
        gains = {layer: float(g) for layer, g in self._gains.items()}
        in_rms = {position: float(v) for position, v in self._in_rms.items()}
        return [
            replace(
                s,
                role="output" if i in self._outputs else s.role,
                init_gain=gains.get(i),
                input_rms=in_rms.get(self._positions[i]),
                calls=self._calls.get(i, 1),
            )
            for i, s in enumerate(self.specs)
        ]

    def not_recorded(self) -> dict[str, str]:
        """Each watched module whose output was never recorded, and why."""
        never = {
            n: "never called in a training step"
            for i, n in enumerate(self.names)
            if i not in self._called and n not in self._silent
        }
        return {**self._silent, **never}


def _what(out: Any) -> str:
    """Why an output holds nothing to record, in a few words."""
    if isinstance(out, Tensor):
        return f"its output is a {out.dtype} tensor" if out.numel() else "its output is empty"
    return f"its output is a {type(out).__name__} without float tensors"
