"""`diagnose(telemetry)`: read the telemetry the way the lesson did, and say what to try.

Each rule looks for one thing the lesson saw in its plots and names the remedy it used:

- non-finite: a layer's activations became NaN or infinite (the first layer and step).
- vanishing / exploding: over the first steps, the activations' std shrinks or grows
  tenfold or more from the first watched layer to the last hidden one (the last watched
  module, the head, is left out): the lesson's reason for kaiming init.
- rise and crash: a layer's std climbs and then collapses to a fifth of its peak or less
  (the lesson's default init at lr 0.9).
- dead activations: most of a ReLU-family layer's outputs sit at its floor over the last
  quarter of training (the lesson: over 90 % of the last layer, even after kaiming init).
- saturation: many outputs pinned at a GeneralRelu's `maxv` cap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from .telemetry import LayerStats, Telemetry

Severity = Literal["info", "warning", "error"]

ADVICE = {
    "non_finite": "lower the learning rate (or warm it up: --sched one-cycle, --lr auto), add a "
    "normalization layer (--norm batch), and check the inputs for NaN",
    "vanishing": "use kaiming initialisation (--init kaiming) so that each layer keeps its "
    "inputs' variance",
    "exploding": "use kaiming initialisation (--init kaiming) or a normalization layer "
    "(--norm batch), and a lower learning rate",
    "rise_and_crash": "warm the learning rate up (--sched one-cycle) or lower it, use kaiming "
    "initialisation, or add a normalization layer (--norm batch)",
    "dead_activations": "use GeneralRelu (--act general: leaky, shifted to centre the "
    "activations), kaiming initialisation, or a normalization layer (--norm batch)",
    "saturation": "raise GeneralRelu's maxv, lower the learning rate, or normalise the layer "
    "before it",
}
PLOTS = {
    "non_finite": "means_stds",
    "vanishing": "means_stds_first",
    "exploding": "means_stds_first",
    "rise_and_crash": "means_stds",
    "dead_activations": "near_zero",
    "saturation": "hists",
}

DEAD_SHARE = 0.8  # near-zero share, over the last quarter, that makes a layer "dead"
CRASH_RATIO = 0.2  # std down to this fraction of its peak is a crash
DEPTH_RATIO = 10.0  # std change from first to last layer that counts as vanishing or exploding
SATURATED_SHARE = 0.05


@dataclass
class Finding:
    """One thing wrong: what, where (layer, steps), the numbers that show it, and what to try."""

    kind: str
    layer: str
    steps: tuple[int, int]
    severity: Severity
    message: str
    evidence: dict[str, float] = field(default_factory=dict)
    advice: str = ""
    plot: str = ""

    def _repr_html_(self) -> str:
        from html import escape

        return (
            f"<p><b>{escape(self.severity)}</b>: {escape(self.message)}<br>"
            f"try: {escape(self.advice)}</p>"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        d = asdict(self)
        d["steps"] = list(self.steps)
        return d


def _finding(
    kind: str,
    layer: str,
    steps: tuple[int, int],
    severity: Severity,
    message: str,
    **evidence: float,
) -> Finding:
    return Finding(
        kind,
        layer,
        (int(steps[0]), int(steps[1])),
        severity,
        message,
        {k: round(float(v), 4) for k, v in evidence.items()},
        ADVICE[kind],
        PLOTS[kind],
    )


def _non_finite(layers: list[LayerStats]) -> list[Finding]:
    first: tuple[int, int] | None = None  # (step index, layer index)
    for li_, layer in enumerate(layers):
        hits = np.flatnonzero(np.isinf(layer.mean) | np.isinf(layer.std) | _nan_recorded(layer))
        if len(hits) and (first is None or hits[0] < first[0]):
            first = (int(hits[0]), li_)
    if first is None:
        return []
    layer = layers[first[1]]
    step = int(layer.steps[first[0]])
    return [
        _finding(
            "non_finite",
            layer.name,
            (step, step),
            "error",
            f"activations of layer {layer.name} became non-finite at step {step}",
            step=step,
        )
    ]


def _nan_recorded(layer: LayerStats) -> np.ndarray:
    """NaN where the step was recorded (its histogram exists) but the mean is NaN."""
    recorded: np.ndarray = np.isfinite(layer.hist).all(1)
    result: np.ndarray = recorded & np.isnan(layer.mean)
    return result


def _depth(layers: list[LayerStats]) -> list[Finding]:
    hidden = layers[:-1] if len(layers) > 2 else layers  # the last module is the head (logits)
    rows = [(x.name, x.std[:5]) for x in hidden if len(x.std) and np.isfinite(x.std[:5]).any()]
    if len(rows) < 2:
        return []
    first_std, last_std = float(np.nanmean(rows[0][1])), float(np.nanmean(rows[-1][1]))
    if first_std <= 0 or not np.isfinite(first_std) or not np.isfinite(last_std):
        return []
    ratio = last_std / first_std
    steps = (int(layers[0].steps[0]), int(layers[0].steps[min(4, len(layers[0].steps) - 1)]))
    where = f"from layer {rows[0][0]} to layer {rows[-1][0]} at the start of training"
    if 1 / DEPTH_RATIO <= ratio <= DEPTH_RATIO:
        return []
    kind, change = ("vanishing", "shrinks") if ratio < 1 else ("exploding", "grows")
    factor = max(ratio, 1 / ratio)
    message = f"activation std {change} {factor:.0f}x {where}"
    return [_finding(kind, rows[-1][0], steps, "warning", message, first_std=first_std,
                     last_std=last_std)]  # fmt: skip


def _rise_and_crash(layers: list[LayerStats]) -> list[Finding]:
    findings = []
    for layer in layers:
        std = np.nan_to_num(layer.std, nan=0.0, posinf=0.0)
        if len(std) < 4 or std[0] <= 0:
            continue
        peak = np.maximum.accumulate(std)
        risen = peak > 1.5 * std[0]
        crashed = risen & (std < CRASH_RATIO * peak)
        starts = np.flatnonzero(crashed & ~np.concatenate([[False], crashed[:-1]]))
        if len(starts):
            i = int(starts[0])
            j = int(np.argmax(peak[: i + 1]))
            findings.append(
                _finding(
                    "rise_and_crash",
                    layer.name,
                    (int(layer.steps[j]), int(layer.steps[i])),
                    "warning",
                    f"activation std of layer {layer.name} rose to {peak[i]:.3g} and crashed "
                    f"to {std[i]:.3g} ({len(starts)} time(s))",
                    peak=peak[i],
                    low=std[i],
                    crashes=len(starts),
                )
            )
    return findings


def _late(layer: LayerStats) -> slice:
    n = len(layer.steps)
    return slice(n - max(1, n // 4), n)


def _dead(layers: list[LayerStats]) -> list[Finding]:
    findings = []
    for layer in layers:
        if not layer.spec.rectified or not len(layer.steps):
            continue
        late = _late(layer)
        share = float(np.nanmean(layer.near_zero[late]))
        if share >= DEAD_SHARE:
            steps = (int(layer.steps[late][0]), int(layer.steps[-1]))
            severity: Severity = "error" if share >= 0.95 else "warning"
            findings.append(
                _finding(
                    "dead_activations",
                    layer.name,
                    steps,
                    severity,
                    f"{share:.0%} of layer {layer.name}'s activations sit at its floor "
                    "over the last quarter of training",
                    share=share,
                )
            )
    return findings


def _saturation(layers: list[LayerStats], bins: int) -> list[Finding]:
    findings = []
    for layer in layers:
        cap = layer.spec.maxv
        if cap is None or not len(layer.steps) or not layer.spec.lo <= cap < layer.spec.hi:
            continue
        width = (layer.spec.hi - layer.spec.lo) / bins
        b = int((cap - layer.spec.lo) / width)
        late = _late(layer)
        total = np.nansum(layer.hist[late], axis=1)
        share = float(np.nanmean(layer.hist[late, b] / np.where(total > 0, total, np.nan)))
        if share >= SATURATED_SHARE:
            steps = (int(layer.steps[late][0]), int(layer.steps[-1]))
            findings.append(
                _finding(
                    "saturation",
                    layer.name,
                    steps,
                    "warning",
                    f"{share:.0%} of layer {layer.name}'s activations sit at its cap {cap:g}",
                    share=share,
                    maxv=cap,
                )
            )
    return findings


def _merge(findings: list[Finding], worst: str) -> list[Finding]:
    """One finding for several layers: the one with the largest `evidence[worst]`, naming all."""
    if len(findings) < 2:
        return findings
    top = max(findings, key=lambda f: f.evidence[worst])
    names = [f.layer for f in findings]
    steps = (min(f.steps[0] for f in findings), max(f.steps[1] for f in findings))
    message = f"{top.message}; also in layer(s) {', '.join(n for n in names if n != top.layer)}"
    severity = "error" if any(f.severity == "error" for f in findings) else top.severity
    evidence = {**top.evidence, "layers": float(len(findings))}
    return [
        Finding(
            top.kind, ", ".join(names), steps, severity, message, evidence, top.advice, top.plot
        )
    ]


def diagnose(telemetry: Telemetry) -> list[Finding]:
    """The findings of every rule (see this module's docstring), most severe first.

    A rule that fires in several layers gives one finding naming them all.
    """
    layers = list(telemetry)
    non_finite = _non_finite(layers)
    if non_finite:  # past a NaN, the other statistics mean nothing
        return non_finite
    findings = [
        *_depth(layers),
        *_merge(_rise_and_crash(layers), "crashes"),
        *_merge(_dead(layers), "share"),
        *_merge(_saturation(layers, telemetry.bins), "share"),
    ]
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: rank[f.severity])


def format_findings(findings: list[Finding]) -> str:
    """The findings as text for a terminal, one paragraph each."""
    if not findings:
        return "diagnosis: nothing looks wrong in the activations."
    lines = [f"diagnosis: {len(findings)} finding(s)"]
    for f in findings:
        lines.append(f"  [{f.severity}] {f.message} (steps {f.steps[0]}-{f.steps[1]})")
        lines.append(f"      try: {f.advice}")
    return "\n".join(lines)
