"""`TrainConfig`: every option of `lookinside train`, checked, with unknown keys refused."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from .errors import LookinsideError
from .models import INITS
from .nn import NORMS
from .nn.layers import ACTIVATIONS

DEVICES = ("auto", "cpu", "cuda", "mps")
NORM_NAMES = ("none", *NORMS)
SCHEDS = ("const", "one-cycle")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: bf16 for the fast recipe on a GPU, else fp32
MAX_SEED = 2**32 - 1  # what numpy's and Python's generators take
MAX_LR = 1e3  # beyond, any step diverges; far beyond, the lr overflows float32
MAX_CHANNELS = 4096  # per conv block
MAX_BLOCKS = 8  # stride-2 blocks: the eighth already sees a 1x1 map of a 28x28 image
# A recipe fixes these options (over any given) and, in `train`, the model and the optimizer.
RECIPES: dict[str, dict[str, Any]] = {
    "fast": {"bs": 128, "lr": 1e-2, "sched": "one-cycle", "epochs": 1},
}


@dataclass
class TrainConfig:
    """The options of one training run; field names are the CLI's long flags with '_' for '-'."""

    data: str = "mnist"
    subset: int | None = None  # train on the first N training images only
    epochs: int = 1
    bs: int = 64
    lr: float | str = 0.4  # or "auto": run the learning-rate finder first and use its suggestion
    sched: str = "const"
    arch: tuple[int, ...] = (8, 16, 32, 32)
    act: str = "relu"
    norm: str = "none"
    init: str = "kaiming"
    device: str = "auto"
    seed: int = 0
    recipe: str = "none"  # "fast": the fast recipe's model, optimizer and schedule (see RECIPES)
    clip: float | None = None  # clip the gradients' global norm to this
    precision: str = "auto"  # fp32, or autocast in bf16 or fp16 (with a gradient scaler)
    channels_last: bool = False  # conv weights and image batches in channels-last order
    cuda_graph: bool = False  # replay each training step from a CUDA graph
    telemetry: bool = True
    tensorboard: bool = False  # also write TensorBoard events into the run's tensorboard/
    out: str | None = None

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not fits_type(value, hints[f.name]):
                raise LookinsideError(
                    f"{f.name} must be {type_words(hints[f.name])}, not {value!r}."
                )
        for key, value in RECIPES.get(self.recipe, {}).items():
            setattr(self, key, value)
        self.arch = tuple(self.arch)
        if isinstance(self.lr, int):
            self.lr = float(self.lr)
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}"),
            (self.bs >= 1, f"bs must be at least 1, not {self.bs}"),
            (
                self.subset is None or self.subset >= 1,
                f"subset must be at least 1, not {self.subset}",
            ),
            (
                self.clip is None or 0 < self.clip < math.inf,
                f"clip must be a positive number, not {self.clip}",
            ),
            (
                self.lr == "auto" or (isinstance(self.lr, float) and 0 < self.lr <= MAX_LR),
                f"lr must be a number above 0 and at most {MAX_LR:g}, or 'auto', not {self.lr!r}",
            ),
            (
                0 < len(self.arch) <= MAX_BLOCKS and all(1 <= c <= MAX_CHANNELS for c in self.arch),
                f"arch must list 1 to {MAX_BLOCKS} channel counts, each from 1 to "
                f"{MAX_CHANNELS}, not {','.join(map(str, self.arch))}",
            ),
            (
                0 <= self.seed <= MAX_SEED,
                f"seed must be between 0 and 2**32 - 1 ({MAX_SEED}), not {self.seed}",
            ),
            (
                not self.cuda_graph or self.sched == "const" or self.recipe == "fast",
                "cuda_graph bakes SGD's lr into the graph: use sched const with it (the fast "
                "recipe's Adam can follow a schedule)",
            ),
            (
                not (self.cuda_graph and self.precision == "fp16"),
                "cuda_graph cannot capture fp16's gradient scaler: use precision bf16",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise LookinsideError(message + ".")
        for name, value, allowed in [
            ("act", self.act, ACTIVATIONS),
            ("norm", self.norm, NORM_NAMES),
            ("sched", self.sched, SCHEDS),
            ("recipe", self.recipe, ("none", *RECIPES)),
            ("init", self.init, INITS),
            ("device", self.device, DEVICES),
            ("precision", self.precision, PRECISIONS),
        ]:
            if value not in allowed:
                raise LookinsideError(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> TrainConfig:
        """Build from a mapping (a JSON or TOML table); an unknown key, a value of the wrong
        type or out of range is an error naming it (and `source`, the file it came from)."""
        try:
            if not isinstance(values, dict):
                raise LookinsideError(f"the options must be a table, not {type(values).__name__}.")
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(values) - names, key=str)
            if unknown:
                raise LookinsideError(f"unknown option {unknown[0]!r}.")
            return cls(**values)
        except LookinsideError as e:
            if source is None:
                raise
            raise LookinsideError(f"{source}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the options (arch as a list)."""
        d = dataclasses.asdict(self)
        d["arch"] = list(self.arch)
        return d


def fits_type(value: Any, hint: Any) -> bool:
    """Whether a value read from a file (JSON, TOML) fits a field's type hint: a bool is
    no number, a float no int, a list of ints a tuple of them."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits_type(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(fits_type(v, int) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def type_words(hint: Any) -> str:
    """A field's type hint in words: "an integer", "a number or text", ..."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        words = [type_words(h) for h in typing.get_args(hint) if h is not type(None)]
        none = type(None) in typing.get_args(hint)
        return " or ".join(words) + (" (or null)" if none else "")
    if typing.get_origin(hint) is tuple:
        return "a list of integers"
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
