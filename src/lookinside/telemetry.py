"""Telemetry records: what `watch` and `ActivationStats` measured, as typed host arrays.

`Telemetry` keeps, per recorded step and watched output ("layer"), raw numbers that merge and
re-derive exactly (sums, counts, extremes), a histogram of a sample, and the step's training
loss; `LayerStats` is one layer's derived view (mean, std, dead units, ...). `STAT_FIELDS`
names the numbers; `watch_stats` says how each is measured on the device.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LookinsideError
from .files import atomic_write_bytes

FORMAT = 2
# A sum of values whose size times count reaches a hundredth of float32's largest value may
# overflow without any value being infinite (the margin covers a minimum seen in a sample).
OVERFLOW = 3.4e36

# Per step and layer. Counts known on the host: values in the output (`n`), in its sample
# (`sample`), units (`units`); the same for the output's gradient (`gn`, `gsample`); `gn` is -1
# when the output needed a gradient that never came (nothing after it reached the loss).
# Measured on the device (see `watch_stats`): Σx, Σx², min, max; units constant over the
# first items of the batch (`dead`); sampled values at their unit's floor (`floor`) or at the
# activation's bounds (`bound`); Σg, Σg², sampled zero gradients (`gzero`); the module's
# parameter norm after the step (`pnorm`); the histogram's values below its range (`below`)
# and at or above its top (`above`), its edge bins on the device.
STAT_FIELDS = (
    "n", "sample", "units", "gn", "gsample",
    "sum", "sumsq", "min", "max", "dead", "floor", "bound",
    "gsum", "gsumsq", "gzero", "pnorm", "below", "above",
)  # fmt: skip
FIELD = {name: i for i, name in enumerate(STAT_FIELDS)}

Bounds = tuple[float | None, float | None]


@dataclass(frozen=True)
class LayerSpec:
    """What is known of one watched output before any number: where it comes from and how
    to read it.

    `name` is the module's qualified name, followed by the place inside its output for a
    tuple, list or dict (`rnn[0]`, `body[logits]`); `input` and `output` are the model's own.
    `kind` groups outputs of the same sort (a module type and place), which the diagnosis
    compares across depth. `lo`, `hi`: the histogram's range [lo, hi), fitted to the output
    when first seen (`watch_layers.histogram_range`). `bounds`: the activation's
    saturating values (Sigmoid (0, 1), Tanh (-1, 1), a cap), if any. `unit_dim`: the axis of
    the output's units (channels or features); `ndim`, its number of axes. `params`,
    `trainable`: the module's parameter counts; `init_gain`: std(W)·√fan_in of its first
    weight when first seen (√2 is kaiming's gain for ReLU, about 0.58 PyTorch's default);
    `input_rms`: the root mean square of the module's input when first seen; `normalized`:
    its output comes out of a normalization layer; `calls`: the most times the module ran in
    one step (a shared layer's numbers are the aggregate of its calls).
    """

    name: str
    label: str
    lo: float
    hi: float
    role: str = "layer"
    module: str = ""
    kind: str = ""
    bounds: Bounds | None = None
    unit_dim: int = -1
    ndim: int = 0
    params: int = 0
    trainable: int = 0
    init_gain: float | None = None
    input_rms: float | None = None
    normalized: bool = False
    calls: int = 1


@dataclass
class LayerStats:
    """One layer over the recorded steps: arrays of shape (steps,), `hist` (steps, bins).

    `near_zero` is the share of sampled values within 1 % of their unit's range from the
    unit's lowest value over the first items of the batch (its floor): the zeros of a ReLU, the
    low plateau of a sigmoid, whatever module made them. `dead` is the share of units whose
    output is the same for each of those items (see `watch_stats`). `saturated` is the share
    of sampled values within 1 % of the activation's bounds (NaN without bounds). Gradient
    statistics are those of the output's gradient; `param_norm` is the module's parameter
    norm after each step. The sampled statistics are NaN at the steps that did not measure
    details (see `Watcher`'s `detail`).
    """

    spec: LayerSpec
    steps: np.ndarray
    values: np.ndarray  # (steps, fields)
    hist: np.ndarray

    @property
    def name(self) -> str:
        """The layer's name (see `LayerSpec`)."""
        return self.spec.name

    def field(self, name: str) -> np.ndarray:
        """One raw field of `STAT_FIELDS`, per step."""
        return self.values[:, FIELD[name]]

    @property
    def mean(self) -> np.ndarray:
        """Mean of the output per step."""
        return _ratio(self.field("sum"), self.field("n"))

    @property
    def std(self) -> np.ndarray:
        """Std of the output per step (NaN where Σx² overflowed float32: see `abs_max`)."""
        return _std(self.field("sum"), self.field("sumsq"), self.field("n"))

    @property
    def min(self) -> np.ndarray:
        """Smallest value per step, over the first items of the batch."""
        return self.field("min")

    @property
    def max(self) -> np.ndarray:
        """Largest value per step, over the whole output."""
        return self.field("max")

    @property
    def abs_max(self) -> np.ndarray:
        """Largest |value| per step (the smallest value from the first items only)."""
        biggest: np.ndarray = np.maximum(np.abs(self.field("min")), np.abs(self.field("max")))
        return biggest

    @property
    def non_finite(self) -> np.ndarray:
        """Whether the step's output held a NaN or an infinity anywhere (exact): a NaN or a
        +inf makes its largest value non-finite, a -inf its sum, which overflows by itself
        only when the values are near float32's limit (told apart by their extremes)."""
        recorded = ~np.isnan(self.field("n"))
        top, low, total = self.field("max"), self.field("min"), self.field("sum")
        with np.errstate(invalid="ignore", over="ignore"):
            overflow = np.isfinite(low) & (self.abs_max * self.field("n") >= OVERFLOW)
        bad: np.ndarray = recorded & (~np.isfinite(top) | (~np.isfinite(total) & ~overflow))
        return bad

    @property
    def rms(self) -> np.ndarray:
        """Root mean square of the output per step."""
        rms: np.ndarray = np.sqrt(_ratio(self.field("sumsq"), self.field("n")))
        return rms

    @property
    def near_zero(self) -> np.ndarray:
        """Share of sampled values at their unit's floor (see the class docstring)."""
        return _ratio(self.field("floor"), self.field("sample"))

    @property
    def dead(self) -> np.ndarray:
        """Share of units constant over the batch."""
        return _ratio(self.field("dead"), self.field("units"))

    @property
    def clipped(self) -> tuple[np.ndarray, np.ndarray]:
        """Shares of the histogram's values below its range and at or above its top, per
        step: what the picture leaves out (NaN where no histogram was measured)."""
        total = self.field("below") + self.field("above") + self.hist.sum(1)
        return _ratio(self.field("below"), total), _ratio(self.field("above"), total)

    @property
    def saturated(self) -> np.ndarray:
        """Share of sampled values at the activation's bounds (NaN without bounds)."""
        return _ratio(self.field("bound"), self.field("sample"))

    @property
    def grad_mean(self) -> np.ndarray:
        """Mean of the output's gradient per step (NaN when not recorded)."""
        return _ratio(self.field("gsum"), self.field("gn"))

    # Σg² is measured at the detailed steps only: the following are NaN at the others.

    @property
    def grad_std(self) -> np.ndarray:
        """Std of the output's gradient per step."""
        return _std(self.field("gsum"), self.field("gsumsq"), self.field("gn"))

    @property
    def grad_norm(self) -> np.ndarray:
        """Norm of the output's whole gradient over the batch, per step."""
        norm: np.ndarray = np.sqrt(self.field("gsumsq"))
        return norm

    @property
    def grad_rms(self) -> np.ndarray:
        """Root mean square of the output's gradient per step."""
        rms: np.ndarray = np.sqrt(_ratio(self.field("gsumsq"), self.field("gn")))
        return rms

    @property
    def grad_non_finite(self) -> np.ndarray:
        """Whether the step's output gradient held a NaN or an infinity (from Σg, which
        overflows float32 only for gradients past about 1e32)."""
        bad: np.ndarray = (self.field("gn") > 0) & ~np.isfinite(self.field("gsum"))
        return bad

    @property
    def no_gradient(self) -> np.ndarray:
        """Whether the step's output got no gradient: none came back (the output needed one),
        or every value of it was exactly zero."""
        gn, gsum = self.field("gn"), self.field("gsum")
        none: np.ndarray = (gn == -1) | ((gn > 0) & (gsum == 0) & ~(self.field("gsumsq") > 0))
        return none

    @property
    def zero_grad(self) -> np.ndarray:
        """Share of sampled output-gradient values that are exactly zero."""
        return _ratio(self.field("gzero"), self.field("gsample"))

    @property
    def param_norm(self) -> np.ndarray:
        """The module's parameter norm after each step (NaN without parameters)."""
        return self.field("pnorm")


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / b  # type: ignore[no-any-return]


def _std(sums: np.ndarray, sumsqs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    mean = _ratio(sums, counts)
    with np.errstate(invalid="ignore", over="ignore"):
        var = np.maximum(_ratio(sumsqs, counts) - mean * mean, 0.0)  # E[X²] - E[X]²
        var = np.where(np.isinf(sumsqs), np.nan, var)  # float32 overflow: unknown, not infinite
    std: np.ndarray = np.sqrt(var)
    return std


@dataclass
class Telemetry:
    """Everything a watched run recorded (S steps, L layers, F fields, B bins).

    `values` (S, L, F): the fields of `STAT_FIELDS`, NaN where not recorded. `hist` (S, L, B):
    counts over a sample of each output. `losses` (S,): the training loss at each recorded
    step (NaN when none was given, ±inf when it was not finite). `meta`: facts about the
    model and the loss (normalization and activation layers, the loss function, the number
    of outputs, the optimizer and its largest lr) and about the recording.
    """

    specs: list[LayerSpec]
    steps: np.ndarray
    values: np.ndarray
    hist: np.ndarray
    losses: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def bins(self) -> int:
        """Histogram bins per layer."""
        return int(self.hist.shape[-1])

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, key: int | str) -> LayerStats:
        i = key if isinstance(key, int) else [s.name for s in self.specs].index(key)
        return LayerStats(self.specs[i], self.steps, self.values[:, i], self.hist[:, i])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(len(self.specs)))

    def __repr__(self) -> str:
        return f"Telemetry({len(self.specs)} layers, {len(self.steps)} recorded steps)"

    def then(self, later: Telemetry) -> Telemetry:
        """This record followed by `later`'s steps (a resumed run). `later` has the same
        layers, possibly followed by layers first seen after the resume; a `later` of no step
        (a fit of no epoch, which only writes a finished run's outputs) adds nothing. What
        was measured at a layer's first sight (its weights' initial gain, its input's rms,
        its histogram range) is this record's: the run's first step, not the resume's."""
        if not len(later.steps):
            return self
        names = [s.name for s in self.specs]
        if [s.name for s in later.specs[: len(names)]] != names:
            raise ValueError("cannot join telemetry of different layers.")
        earlier = self.padded(len(later.specs))
        first = [replace(s, calls=max(s.calls, t.calls))
                 for s, t in zip(self.specs, later.specs[: len(names)], strict=True)]  # fmt: skip
        return Telemetry(
            [*first, *later.specs[len(names) :]],
            np.concatenate([earlier.steps, later.steps]),
            np.concatenate([earlier.values, later.values]),
            np.concatenate([earlier.hist, later.hist]),
            np.concatenate([earlier.losses, later.losses]),
            {**self.meta, **later.meta},
        )

    def padded(self, layers: int) -> Telemetry:
        """The same record with NaN columns for layers beyond its own (first seen later)."""
        extra = layers - len(self.specs)
        if extra <= 0:
            return self
        s = len(self.steps)
        return Telemetry(
            self.specs,
            self.steps,
            np.concatenate([self.values, np.full((s, extra, self.values.shape[2]), np.nan)], 1),
            np.concatenate([self.hist, np.full((s, extra, self.bins), np.nan)], 1),
            self.losses,
            self.meta,
        )

    def _repr_html_(self) -> str:
        """A table of the layers' last recorded statistics, for notebooks."""
        from html import escape

        def last(a: np.ndarray) -> str:
            return f"{a[-1]:.3g}" if len(a) else "-"

        rows = "".join(
            f"<tr><td>{escape(x.spec.label)}</td><td>{last(x.mean)}</td><td>{last(x.std)}</td>"
            f"<td>{last(x.near_zero)}</td><td>{last(x.dead)}</td></tr>"
            for x in self
        )
        head = (
            "<tr><th>layer</th><th>mean</th><th>std</th><th>at floor</th><th>dead units</th></tr>"
        )
        return f"<p>Telemetry: {len(self.steps)} recorded steps</p><table>{head}{rows}</table>"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write everything to one `.npz` file (atomically); `Telemetry.load` reads it back."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.arrays())  # type: ignore[arg-type]
        atomic_write_bytes(path, buf.getvalue())

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as named arrays (what `save` writes and `from_arrays` reads)."""
        return {
            "format": np.array(FORMAT),
            "steps": self.steps,
            "values": self.values,
            "fields": np.array(STAT_FIELDS),
            "hist": self.hist,
            "losses": self.losses,
            "specs": np.array(json.dumps([asdict(s) for s in self.specs])),
            "meta": np.array(json.dumps(self.meta)),
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Telemetry:
        """Read a file written by `save` (no pickles: plain arrays only)."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise LookinsideError(f"{path} is not a telemetry file ({e}).") from None
        return cls.from_arrays(d, str(path))

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray], source: str = "telemetry") -> Telemetry:
        """The inverse of `arrays`; `source` names the data in errors."""
        if "format" not in d or int(d["format"]) != FORMAT:
            raise LookinsideError(
                f"{source} was written by another version of lookinside (format "
                f"{int(d['format']) if 'format' in d else 1}, this one reads {FORMAT})."
            )
        try:
            fields = [str(f) for f in d["fields"]]
            values = d["values"].astype(np.float64)
            if fields != list(STAT_FIELDS):  # written with other fields: keep those we know
                order = [fields.index(f) if f in fields else -1 for f in STAT_FIELDS]
                padded = np.concatenate([values, np.full((*values.shape[:2], 1), np.nan)], 2)
                values = padded[:, :, order]
            specs = [_spec(s) for s in json.loads(str(d["specs"]))]
            return cls(specs, d["steps"], values, d["hist"], d["losses"],
                       json.loads(str(d["meta"])))  # fmt: skip
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise LookinsideError(f"{source} is not a telemetry file ({e}).") from None


def _spec(d: dict[str, Any]) -> LayerSpec:
    bounds = d.get("bounds")
    return LayerSpec(**{**d, "bounds": tuple(bounds) if bounds is not None else None})
