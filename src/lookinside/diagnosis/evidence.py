"""`Evidence`: what the rules read, prepared once: the telemetry's layers in forward order, cut
before the first non-finite step (past it, every statistic is noise), the loss per step, the
per-epoch losses, and the run's setup; with the windows and helpers the rules share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..telemetry import LayerStats, Telemetry
from .advice import Setup, advice, remedies
from .findings import Finding, Severity

EARLY = 5  # recorded steps that count as "the start of training"
LATE_AT_LEAST = 8  # recorded steps in the late window, where a record is long enough


@dataclass
class Evidence:
    """The inputs of every rule (see the module docstring).

    `layers`: every recorded layer, its arrays cut to the steps before the first non-finite
    one (`cut`). `losses`: the training loss per recorded step, cut the same way. `epochs`:
    one mapping per finished epoch (`train_loss`, `valid_loss`, ...).
    """

    telemetry: Telemetry
    setup: Setup
    epochs: Sequence[Mapping[str, float]] = ()
    cut: int = 0
    layers: list[LayerStats] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        telemetry: Telemetry,
        epochs: Sequence[Mapping[str, float]] = (),
        options: Mapping[str, object] | None = None,
        cut: int | None = None,
    ) -> Evidence:
        """Evidence from a record; `cut`: the first step index not to read (default: all)."""
        n = len(telemetry.steps) if cut is None else cut
        layers = [LayerStats(x.spec, x.steps[:n], x.values[:n], x.hist[:n]) for x in telemetry]
        return cls(telemetry, Setup.of(telemetry, options), list(epochs), n, layers)

    @property
    def steps(self) -> np.ndarray:
        """The recorded step numbers kept."""
        return self.telemetry.steps[: self.cut]

    @property
    def losses(self) -> np.ndarray:
        """The training loss per kept step (NaN where none was recorded)."""
        return self.telemetry.losses[: self.cut]

    def hidden(self) -> list[LayerStats]:
        """The layers inside the model: not its input, not its output."""
        return [x for x in self.layers if x.spec.role == "layer"]

    def step(self, i: int) -> int:
        """The step number of kept index `i` (negative counts from the end)."""
        return int(self.steps[i])

    def late(self) -> slice:
        """The kept steps in the last quarter of the steps they span: with a record that grows
        sparser (`watch_rate`), the last quarter of the run, not of the recorded steps, but
        `LATE_AT_LEAST` of them (the details are measured at one in four); with an even
        record, the last quarter of those (at least one)."""
        n = self.cut
        if n < 2:
            return slice(0, n)
        steps = self.steps
        gap = int(np.diff(steps).min())
        span = int(steps[-1] - steps[0]) + gap
        late = int(np.count_nonzero(steps >= steps[-1] - (span / 4 - gap)))
        return slice(n - max(1, late, min(LATE_AT_LEAST, n // 4)), n)  # enough for details

    def early(self) -> slice:
        """The first recorded steps (`EARLY` at most)."""
        return slice(0, min(EARLY, self.cut))

    def finding(
        self,
        kind: str,
        layers: Sequence[str],
        steps: tuple[int, int],
        severity: Severity,
        message: str,
        case: str = "",
        **evidence: float,
    ) -> Finding:
        """A finding with its remedies for this run and its reader (those of `case`, a case
        of the kind with remedies of its own, when given)."""
        found = remedies(case or kind, self.setup, layers)
        return Finding(
            kind,
            layers[0] if layers else "",
            (int(steps[0]), int(steps[1])),
            severity,
            message,
            {k: _rounded(v) for k, v in evidence.items()},
            advice(found, self.setup),
            layers=tuple(layers),
            remedies=found,
        )


def _rounded(v: float) -> float:
    v = float(v)
    if not math.isfinite(v) or v == 0:
        return v
    return float(f"{v:.4g}")


def median(a: np.ndarray) -> float:
    """The median of the finite values (NaN when there are none)."""
    finite = a[np.isfinite(a)]
    return float(np.median(finite)) if len(finite) else math.nan


def who(layer: LayerStats) -> str:
    """`3 (Linear)`, `0 (Sequential: Conv2d, ReLU)`, `input`: a layer for messages."""
    kind, _, inner = layer.spec.kind.partition("(")
    if kind == "Sequential" and inner:
        kind = f"Sequential: {inner.rstrip(')')}"
    kind = kind or layer.spec.role
    return f"{layer.name} ({kind})" if kind != layer.name else layer.name


def units_word(layer: LayerStats) -> str:
    """`channels` for images and 1-d conv outputs, `units` otherwise."""
    return "channels" if layer.spec.unit_dim == 1 and layer.spec.ndim >= 3 else "units"


def factor(x: float) -> str:
    """`933x`, `9.2e+13x`: a ratio in few characters."""
    return f"{x:.0f}x" if x < 1e4 else f"{x:.1e}x"
