"""Rules on the backward side and the parameters: gradients that vanish or explode towards the
input, outputs that receive no gradient at all, parameters the optimizer does not hold, and
frozen layers.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..telemetry import LayerStats
from .activations import groups
from .evidence import Evidence, factor, who
from .findings import Finding, Severity

GRADIENT_DEPTH = 100.0  # gradient scale change across layers of one kind: a warning
GRADIENT_DEPTH_INFO = 10.0
NO_GRADIENT = 0.9  # share of the last quarter's steps whose output got no gradient


def gradient_depth(ev: Evidence) -> list[Finding]:
    """The output gradients of layers of one kind at the first recorded step (the
    initialisation's, before any update) shrinking or growing from the last layer back to
    the first: vanishing (exploding) gradients. Compares each output's whole gradient norm
    over the batch (per call of a shared layer): per value, a wide feature map's gradient is
    small by its size alone."""
    if not ev.cut:
        return []
    worst: tuple[float, list[tuple[str, float]]] | None = None
    for group in groups(ev.hidden()):
        # a module called k times a step (a shared layer) adds k gradients up: per call
        scales = [(x.name, float(x.grad_norm[0]) / math.sqrt(x.spec.calls)) for x in group]
        live = [(n, s) for n, s in scales if math.isfinite(s) and s > 0]
        if len(live) < 2:
            continue
        ratio = live[0][1] / live[-1][1]  # first layer's gradient over the last one's
        if worst is None or abs(math.log(ratio)) > abs(math.log(worst[0])):
            worst = (ratio, live)
    if worst is None or 1 / GRADIENT_DEPTH_INFO < worst[0] < GRADIENT_DEPTH_INFO:
        return []
    ratio, live = worst
    size = max(ratio, 1 / ratio)
    kind, change = (
        ("vanishing_gradients", "shrink") if ratio < 1 else ("exploding_gradients", "grow")
    )
    severity: Severity = "warning" if size >= GRADIENT_DEPTH else "info"
    by_name = {x.name: x for x in ev.layers}
    message = (
        f"output-gradient norms {change} {factor(size)} from {who(by_name[live[-1][0]])} back to "
        f"{who(by_name[live[0][0]])} at step {ev.step(0)}: the first layers "
        + ("barely learn" if ratio < 1 else "take the largest steps")
    )
    names = [n for n, _ in live]
    steps = (ev.step(0), ev.step(0))
    return [ev.finding(kind, names, steps, severity, message, factor=size,
                       first=live[0][1], last=live[-1][1])]  # fmt: skip


def no_gradient(ev: Evidence) -> list[Finding]:
    """Modules none of whose outputs got a gradient over the last quarter of training: none
    came back (a detached branch, an output the loss never uses) or it was exactly zero
    (dead units after a linear layer). A module whose other outputs get gradients is fine
    (an LSTM's final state, say, when the loss reads its sequence output)."""
    late = ev.late()
    starved: dict[str, list[tuple[LayerStats, bool]]] = defaultdict(list)
    fed: set[str] = set()
    for x in ev.layers:
        hooked = ~np.isnan(x.field("gn")[late])
        if x.spec.role == "input" or not hooked.any():
            continue
        none = x.no_gradient[late][hooked]
        if none.mean() >= NO_GRADIENT and x.spec.role == "layer":
            never = bool((x.field("gn")[late][hooked] == -1).mean() > 0.5)
            starved[x.spec.module or x.name].append((x, never))
        elif none.mean() < NO_GRADIENT:
            fed.add(x.spec.module or x.name)
    hits = [h for module, found in starved.items() if module not in fed for h in found]
    if not hits or not fed:  # nothing got a gradient: no backward ran at all
        return []
    x, never = hits[0]
    how = "none comes back from the loss" if never else "its output's gradient is exactly zero"
    message = f"no gradient reaches {who(x)}: {how}"
    if len(hits) > 1:
        message += f"; also {', '.join(h.name for h, _ in hits[1:])}"
    return [ev.finding("no_gradient", [h.name for h, _ in hits],
                       (ev.step(late.start), ev.step(-1)), "warning", message)]  # fmt: skip


def not_updated(ev: Evidence) -> list[Finding]:
    """Modules with trainable parameters that no optimizer stepping the model holds."""
    left_out = list(ev.telemetry.meta.get("not_in_optimizer", []))
    if not left_out or not ev.cut:
        return []
    message = (
        f"the parameters of {', '.join(left_out)} are in no optimizer: they never change "
        "while the rest of the model trains"
    )
    return [ev.finding("not_updated", left_out, (ev.step(0), ev.step(-1)), "error", message)]


def frozen(ev: Evidence) -> list[Finding]:
    """Layers whose parameters are all frozen (requires_grad=False): worth knowing, often meant."""
    seen: set[str] = set()
    hits = []
    for x in ev.layers:
        spec = x.spec
        if spec.params and not spec.trainable and spec.module and spec.module not in seen:
            seen.add(spec.module)
            hits.append(spec.module)
    if not hits or not ev.cut:
        return []
    message = (
        f"{', '.join(hits)} hold only frozen parameters (requires_grad=False): they do not learn"
    )
    return [ev.finding("frozen", hits, (ev.step(0), ev.step(-1)), "info", message)]
