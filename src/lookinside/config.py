"""`TrainConfig`: every option of `lookinside train`, checked, with unknown keys refused."""

from __future__ import annotations

import dataclasses
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
        for key, value in RECIPES.get(self.recipe, {}).items():
            setattr(self, key, value)
        self.arch = tuple(self.arch)
        if isinstance(self.lr, int) and not isinstance(self.lr, bool):
            self.lr = float(self.lr)
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}"),
            (self.bs >= 1, f"bs must be at least 1, not {self.bs}"),
            (
                self.subset is None or self.subset >= 1,
                f"subset must be at least 1, not {self.subset}",
            ),
            (self.clip is None or self.clip > 0, f"clip must be positive, not {self.clip}"),
            (
                self.lr == "auto" or (isinstance(self.lr, float) and self.lr > 0),
                f"lr must be a positive number or 'auto', not {self.lr!r}",
            ),
            (
                len(self.arch) > 0 and all(c >= 1 for c in self.arch),
                f"arch must list positive channel counts, not {self.arch}",
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
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (a JSON or TOML table); an unknown key is an error naming it."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise LookinsideError(f"unknown option {unknown[0]!r}.")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the options (arch as a list)."""
        d = dataclasses.asdict(self)
        d["arch"] = list(self.arch)
        return d
