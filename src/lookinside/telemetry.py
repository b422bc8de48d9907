"""Telemetry records: what `watch` and `ActivationStats` measured, as typed arrays.

`Telemetry` holds raw sums per recorded step and layer (so that runs can be merged, saved and
re-derived exactly); `LayerStats` is one layer's view: mean, std, near-zero fraction and
histogram per step. Both live on the host, as NumPy arrays.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LookinsideError
from .files import atomic_write_bytes


@dataclass(frozen=True)
class LayerSpec:
    """How one watched module's outputs are binned.

    `floor` is the activation's lowest typical value (0 after ReLU, -sub after GeneralRelu),
    None for signed outputs (conv, linear, norm layers). `rectified` marks outputs of a
    ReLU-family activation, where mass at the floor means units that do nothing.
    """

    name: str
    label: str
    lo: float
    hi: float
    floor: float | None
    rectified: bool
    maxv: float | None = None


@dataclass
class LayerStats:
    """One layer over the recorded steps: arrays of shape (steps,), `hist` (steps, bins).

    `near_zero` is the share of sampled values in the two histogram bins just above the floor
    ([0, 0.5) after ReLU, as in the lesson; [-0.4, 0.3) after GeneralRelu(0.1, 0.4, 6), whose
    floor is -0.4), or the two bins around 0 for signed outputs. `hist` counts a sample of each
    step's values (see `Telemetry.hist_sample`); values outside [lo, hi) are not counted.
    """

    spec: LayerSpec
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    near_zero: np.ndarray
    hist: np.ndarray
    grad_mean: np.ndarray | None = None
    grad_std: np.ndarray | None = None
    param_norm: np.ndarray | None = None

    @property
    def name(self) -> str:
        """The module's qualified name in the model."""
        return self.spec.name


@dataclass
class Telemetry:
    """Raw per-step, per-layer sums of a watched run (S steps, L layers, B bins).

    `sums`, `sumsqs`, `counts`: Σx, Σx² and the number of values, (S, L). `hist`: (S, L, B)
    counts over a sample of `sample_counts` values. Optional gradient sums of the outputs and
    parameter norms, (S, L). Unrecorded entries are NaN.
    """

    specs: list[LayerSpec]
    steps: np.ndarray
    sums: np.ndarray
    sumsqs: np.ndarray
    counts: np.ndarray
    hist: np.ndarray
    sample_counts: np.ndarray
    grad_sums: np.ndarray | None = None
    grad_sumsqs: np.ndarray | None = None
    grad_counts: np.ndarray | None = None
    param_norms: np.ndarray | None = None
    hist_sample: int | None = None

    @property
    def bins(self) -> int:
        """Histogram bins per layer."""
        return int(self.hist.shape[-1])

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, key: int | str) -> LayerStats:
        i = key if isinstance(key, int) else [s.name for s in self.specs].index(key)
        return self.layer(i)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self.layer(i) for i in range(len(self.specs)))

    def then(self, later: Telemetry) -> Telemetry:
        """This record followed by `later`'s steps (a resumed run); the layers must match."""
        if [s.name for s in later.specs] != [s.name for s in self.specs]:
            raise ValueError("cannot join telemetry of different layers.")
        a, b = self.arrays(), later.arrays()
        joined = {k: np.concatenate([a[k], b[k]]) if k in per_step else a[k] for k in a}
        return Telemetry.from_arrays(joined)

    def _repr_html_(self) -> str:
        """A table of the layers' last recorded statistics, for notebooks."""
        from html import escape

        def last(a: np.ndarray) -> str:
            return f"{a[-1]:.3f}" if len(a) else "-"

        rows = "".join(
            f"<tr><td>{escape(x.spec.label)}</td><td>{last(x.mean)}</td><td>{last(x.std)}</td>"
            f"<td>{last(x.near_zero)}</td></tr>"
            for x in self
        )
        head = "<tr><th>layer</th><th>mean</th><th>std</th><th>near zero</th></tr>"
        return f"<p>Telemetry: {len(self.steps)} recorded steps</p><table>{head}{rows}</table>"

    def layer(self, i: int) -> LayerStats:
        """Layer `i`'s statistics, derived from the sums."""
        spec = self.specs[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean, std = _mean_std(self.sums[:, i], self.sumsqs[:, i], self.counts[:, i])
            near = (
                self.hist[:, i, near_zero_bins(spec, self.bins)].sum(1) / self.sample_counts[:, i]
            )
            grad_mean = grad_std = None
            if (
                self.grad_sums is not None
                and self.grad_sumsqs is not None
                and self.grad_counts is not None
            ):
                grad_mean, grad_std = _mean_std(
                    self.grad_sums[:, i], self.grad_sumsqs[:, i], self.grad_counts[:, i]
                )
        norms = self.param_norms[:, i] if self.param_norms is not None else None
        return LayerStats(
            spec, self.steps, mean, std, near, self.hist[:, i], grad_mean, grad_std, norms
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write everything to one `.npz` file (atomically); `Telemetry.load` reads it back."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.arrays())  # type: ignore[arg-type]
        atomic_write_bytes(path, buf.getvalue())

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as named arrays (what `save` writes and `from_arrays` reads)."""
        arrays: dict[str, np.ndarray] = {
            "steps": self.steps,
            "sums": self.sums,
            "sumsqs": self.sumsqs,
            "counts": self.counts,
            "hist": self.hist,
            "sample_counts": self.sample_counts,
            "names": np.array([s.name for s in self.specs]),
            "labels": np.array([s.label for s in self.specs]),
            "ranges": np.array([[s.lo, s.hi] for s in self.specs], dtype=np.float64),
            "floors": np.array([np.nan if s.floor is None else s.floor for s in self.specs]),
            "rectified": np.array([s.rectified for s in self.specs]),
            "maxv": np.array([np.nan if s.maxv is None else s.maxv for s in self.specs]),
            "hist_sample": np.array(-1 if self.hist_sample is None else self.hist_sample),
        }
        for key in ("grad_sums", "grad_sumsqs", "grad_counts", "param_norms"):
            value = getattr(self, key)
            if value is not None:
                arrays[key] = value
        return arrays

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Telemetry:
        """Read a file written by `save` (no pickles: plain arrays only)."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
            return cls.from_arrays(d)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise LookinsideError(f"{path} is not a telemetry file ({e}).") from None

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> Telemetry:
        """The inverse of `arrays`."""
        specs = [
            LayerSpec(
                str(n),
                str(lab),
                float(r[0]),
                float(r[1]),
                None if np.isnan(f) else float(f),
                bool(rc),
                None if np.isnan(m) else float(m),
            )
            for n, lab, r, f, rc, m in zip(
                d["names"],
                d["labels"],
                d["ranges"],
                d["floors"],
                d["rectified"],
                d["maxv"],
                strict=True,
            )
        ]
        sample = int(d["hist_sample"])
        return cls(
            specs,
            d["steps"],
            d["sums"],
            d["sumsqs"],
            d["counts"],
            d["hist"],
            d["sample_counts"],
            d.get("grad_sums"),
            d.get("grad_sumsqs"),
            d.get("grad_counts"),
            d.get("param_norms"),
            None if sample < 0 else sample,
        )


per_step = {"steps", "sums", "sumsqs", "counts", "hist", "sample_counts", "grad_sums",
            "grad_sumsqs", "grad_counts", "param_norms"}  # fmt: skip


def _mean_std(
    sums: np.ndarray, sumsqs: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    mean = sums / counts
    var = np.maximum(sumsqs / counts - mean * mean, 0.0)  # E[X²] - E[X]²: one pass on the device
    return mean, np.sqrt(var)


def near_zero_bins(spec: LayerSpec, bins: int) -> slice:
    """The two histogram bins that count as near zero: just above the floor, or around 0."""
    width = (spec.hi - spec.lo) / bins
    anchor = spec.floor if spec.floor is not None else -width  # signed: the bins [-w, w)
    first = round((anchor - spec.lo) / width)
    first = min(max(first, 0), bins - 2)
    return slice(first, first + 2)
