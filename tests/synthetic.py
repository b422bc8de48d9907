"""Synthetic telemetry for the diagnosis' tests: each rule is tested at its threshold's edge on
numbers chosen by hand, not on a training run."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lookinside.telemetry import FIELD, STAT_FIELDS, LayerSpec, Telemetry

N = 1000.0  # values per output
DEFAULTS: dict[str, float] = {
    "n": N, "sample": 100.0, "units": 10.0, "gn": N, "gsample": 100.0,
    "sum": 0.0, "sumsq": N, "min": -3.0, "max": 3.0, "dead": 0.0, "floor": 5.0,
    "bound": math.nan, "gsum": 0.0, "gsumsq": N * 1e-6, "gzero": 0.0, "pnorm": math.nan,
    "below": 0.0, "above": 0.0,
}  # fmt: skip
Field = float | Sequence[float] | np.ndarray


def spec(name: str, kind: str = "Linear", role: str = "layer", **more: Any) -> LayerSpec:
    """A layer's spec: `kind` groups layers for the depth rules; a layer with 10 trainable
    parameters whose input's rms was 1 when first seen, unless `more` says otherwise."""
    options = {"params": 10, "trainable": 10, "input_rms": 1.0, **more}
    return LayerSpec(name, f"{name} {kind}", -7.0, 7.0, role=role, module=name, kind=kind,
                     **options)  # fmt: skip


def std(values: Field, steps: int) -> dict[str, np.ndarray]:
    """The fields of an output with mean 0 and the given std per step."""
    s = np.broadcast_to(np.asarray(values, dtype=float), (steps,))
    return {"sum": np.zeros(steps), "sumsq": s**2 * N}


def grad_rms(values: Field, steps: int) -> dict[str, np.ndarray]:
    """The fields of an output gradient with mean 0 and the given rms per step."""
    r = np.broadcast_to(np.asarray(values, dtype=float), (steps,))
    return {"gsum": np.zeros(steps), "gsumsq": r**2 * N}


def telemetry(
    layers: Sequence[tuple[LayerSpec, Mapping[str, Field]]],
    steps: int = 40,
    losses: Field | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Telemetry:
    """Telemetry of `steps` steps: each layer's fields are the defaults (a healthy layer,
    std 1) but for those given, as a number or one value per step."""
    values = np.empty((steps, len(layers), len(STAT_FIELDS)))
    for i, (_, fields) in enumerate(layers):
        for name, default in DEFAULTS.items():
            values[:, i, FIELD[name]] = np.broadcast_to(fields.get(name, default), (steps,))
    hist = np.zeros((steps, len(layers), 40))
    loss = np.full(steps, np.nan) if losses is None else np.broadcast_to(losses, (steps,))
    info = {"loss": "cross_entropy", "outputs": 10} if losses is not None else {}
    return Telemetry(
        [s for s, _ in layers],
        np.arange(steps),
        values,
        hist,
        np.array(loss, dtype=float),
        {**info, **(meta or {})},
    )
