"""Rules on what the layers output: non-finite values, unnormalised inputs, activations that
vanish or explode with depth or grow during training, rise-and-crash, dead units, saturation,
probabilities handed to cross-entropy, and outputs that could not be recorded.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..telemetry import LayerStats, Telemetry
from .evidence import Evidence, factor, median, units_word, who
from .findings import Finding, Severity

INPUT_FAR = 5.0  # |mean| or std of the inputs beyond this: not normalised
INPUT_FLAT = 1e-3  # std of the inputs below this: (nearly) constant
# The std's change across layers of one kind at the first step: worth knowing from 10x (info),
# hurting training from 100x (warning), breaking it from 1e4x (error). PyTorch's default init
# loses about 2.4x a ReLU layer: 11x over the lesson's 4 conv blocks, which still train.
DEPTH, DEPTH_WARNING, DEPTH_ERROR = 10.0, 100.0, 1e4
GROWTH = 100.0  # a layer's scale growing this much during training: exploding
GROWTH_ERROR = 1e6
RISE, CRASH = 1.5, 0.2  # std up 1.5x, then down to a fifth of its peak: rise and crash
ROUNDING = 1e-3  # a std under this share of |mean| is float32 rounding in E[X²] - E[X]²
DEAD, DEAD_ERROR = 0.25, 0.75  # share of units constant over the batch, late in training
SATURATED = 0.5  # share of values at the bounds of a saturating activation
SUMS_TO_ONE = 1e-3
FLOOR_MARGIN = 0.98  # a loss 2 % under cross-entropy's floor on probabilities is not on them


def first_non_finite(t: Telemetry) -> tuple[int, int | None, str] | None:
    """The first non-finite event: (step index, layer index or None, what: activations, loss
    or gradient). Within a step the forward comes first (layers in order), then the loss,
    then the backward (layers in reverse)."""
    layers = list(t)
    if not layers or not len(t.steps):
        return None
    forward = np.array([x.non_finite for x in layers])  # (L, S)
    backward = np.array([x.grad_non_finite for x in layers])
    loss = np.isinf(t.losses)  # a NaN loss is recorded as inf; NaN: not recorded
    bad = forward.any(0) | backward.any(0) | loss
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    if forward[:, i].any():
        return i, int(np.argmax(forward[:, i])), "activations"
    if loss[i]:
        return i, None, "loss"
    return i, len(layers) - 1 - int(np.argmax(backward[::-1, i])), "gradient"


def non_finite(ev: Evidence, event: tuple[int, int | None, str]) -> Finding:
    """The finding for `first_non_finite`'s event."""
    i, index, what = event
    step = int(ev.telemetry.steps[i])
    last = int(ev.telemetry.steps[i - 1]) if i else step - 1  # the recorded step before
    when = f"at step {step}" if last == step - 1 else f"by step {step} (recorded after {last})"
    if index is None:
        return ev.finding("non_finite", ["loss"], (step, step), "error",
                          f"the loss became non-finite {when} while every recorded "
                          "activation was finite", step=step)  # fmt: skip
    layer = ev.telemetry[index]
    earlier = layer.abs_max[:i]
    before = float(earlier[np.isfinite(earlier)].max()) if np.isfinite(earlier).any() else math.nan
    seen = f"; its largest |value| before was {before:.3g}" if math.isfinite(before) else ""
    if layer.spec.role == "input":
        message = f"the model's input held NaN or infinite values {when}"
    elif what == "gradient":
        message = (
            f"the gradient of {who(layer)}'s output became non-finite {when}, before any activation"
        )
    else:
        message = f"activations of {who(layer)} became non-finite {when}{seen}"
    if last != step - 1 and layer.spec.role != "input":  # by then it may have spread
        message += (f"; where it began after step {last} is not recorded: record every "
                    "step (every=1) to see the first layer")  # fmt: skip
    return ev.finding("non_finite", [layer.name], (step, step), "error", message, step=step,
                      previous_abs_max=before)  # fmt: skip


def inputs(ev: Evidence) -> list[Finding]:
    """The model's input far from mean 0 and std 1 (or constant)."""
    out = []
    for x in ev.layers:
        if x.spec.role != "input" or not ev.cut:
            continue
        early = ev.early()
        mean, std = median(x.mean[early]), median(x.std[early])
        if not (abs(mean) > INPUT_FAR or std > INPUT_FAR or std < INPUT_FLAT):
            continue
        what = "(nearly) constant" if std < INPUT_FLAT else "far from mean 0 and std 1"
        out.append(ev.finding("inputs", [x.name], (ev.step(0), ev.step(early.stop - 1)),
                              "warning", f"the model's inputs have mean {mean:.3g} and std "
                              f"{std:.3g}: {what}", mean=mean, std=std))  # fmt: skip
    return out


def groups(layers: list[LayerStats]) -> list[list[LayerStats]]:
    """Layers of the same kind (module type and place in its output), in forward order: the
    ones the depth rules may compare (never an embedding with an LSTM)."""
    by_kind: dict[str, list[LayerStats]] = defaultdict(list)
    for x in layers:
        by_kind[x.spec.kind].append(x)
    return [g for g in by_kind.values() if len(g) >= 2]


def scale(x: LayerStats) -> np.ndarray:
    """A layer's spread per step: its std, or its largest |value| where Σx² overflowed."""
    std = x.std
    return np.where(np.isfinite(std), std, x.abs_max)


def gain(x: LayerStats) -> float:
    """What a layer did to the size of its input at its first step: its output's std over
    its input's root mean square, which is what a linear layer's output variance scales
    (NaN when unknown, or when the layer's units were mostly dead then)."""
    if not x.spec.input_rms or not x.dead[0] < 0.5:
        return math.nan
    return float(scale(x)[0]) / x.spec.input_rms


def depth(ev: Evidence) -> list[Finding]:
    """Layers of one kind with weights whose outputs, at the first recorded step, shrink (or
    grow) tenfold or more from the first to the last: the lesson's reason for kaiming init.
    The first layer's output is taken as it would be for an input of rms 1 (its output std
    over its input's rms), so unnormalised inputs that inflate it alone do not count. Layers
    whose output a normalization makes are left out. Reports the true factor."""
    if not ev.cut:
        return []
    worst: tuple[float, list[LayerStats]] | None = None
    for group in groups([x for x in ev.hidden() if x.spec.params and not x.spec.normalized]):
        live = [x for x in group if math.isfinite(gain(x)) and gain(x) > 0]
        if len(live) < 2:
            continue
        ratio = float(scale(live[-1])[0]) / gain(live[0])
        if worst is None or abs(math.log(ratio)) > abs(math.log(worst[0])):
            worst = (ratio, live)
    if worst is None or 1 / DEPTH < worst[0] < DEPTH:
        return []
    ratio, live = worst
    kind, change = ("vanishing", "shrinks") if ratio < 1 else ("exploding", "grows")
    size = max(ratio, 1 / ratio)
    severity: Severity = (
        "error" if size >= DEPTH_ERROR else "warning" if size >= DEPTH_WARNING else "info"
    )
    step = ev.step(0)
    message = (
        f"activation std {change} {factor(size)} from {who(live[0])} to {who(live[-1])} at "
        f"step {step}, across {len(live)} layers of one kind (for an input of rms 1)"
    )
    names = [live[-1].name, *(x.name for x in live[:-1])]
    return [ev.finding(kind, names, (step, step), severity, message, factor=size)]


def growth(ev: Evidence) -> list[Finding]:
    """A layer whose spread grows a hundredfold or more during training, over its start or 1,
    whichever is larger (from a vanishing start, 1e-10 to 1e-7 is no explosion)."""
    hits = []
    for x in ev.layers:
        if x.spec.role == "input" or ev.cut < 2:
            continue
        spread = scale(x)
        if not math.isfinite(spread[0]):
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            ratio = spread / max(float(spread[0]), 1.0)
        if not np.nanmax(ratio) >= GROWTH:
            continue
        first = int(np.argmax(ratio >= GROWTH))
        peak = int(np.nanargmax(ratio))
        hits.append((x, float(ratio[peak]), first, peak))
    if not hits:
        return []
    x, size, first, peak = hits[0]  # the first layer in forward order: the others follow it
    top = max(h[1] for h in hits)
    severity: Severity = "error" if top >= GROWTH_ERROR else "warning"
    message = (
        f"activations of {who(x)} grew {factor(size)} during training (largest |value| "
        f"{float(np.nanmax(x.abs_max)):.3g} at step {ev.step(peak)})"
    )
    if len(hits) > 1:
        message += f"; also in {len(hits) - 1} later layer(s)"
    return [ev.finding("exploding", [h[0].name for h in hits], (ev.step(first), ev.step(peak)),
                       severity, message, "exploding_growth", factor=size,
                       largest=top)]  # fmt: skip


def rise_and_crash(ev: Evidence) -> list[Finding]:
    """A layer's std climbs, then collapses to a fifth of its peak or less (the lesson's
    default init at lr 0.9)."""
    hits = []
    for x in ev.hidden():
        std = np.nan_to_num(x.std, nan=0.0, posinf=0.0)
        std[std <= ROUNDING * np.nan_to_num(np.abs(x.mean))] = 0.0  # a constant output's
        if len(std) < 4 or std[0] <= 0:  # E[X²] - E[X]² is float32 rounding, not spread
            continue
        peak = np.maximum.accumulate(std)
        crashed = (peak > RISE * std[0]) & (std < CRASH * peak)
        starts = np.flatnonzero(crashed & ~np.concatenate([[False], crashed[:-1]]))
        if len(starts):
            i = int(starts[0])
            j = int(np.argmax(peak[: i + 1]))
            hits.append((x, i, j, len(starts), float(peak[i]), float(std[i])))
    if not hits:
        return []
    x, i, j, n, high, low = hits[0]
    message = (
        f"activation std of {who(x)} rose to {high:.3g} and crashed to {low:.3g} "
        f"({n} time(s))" + (f"; also in {len(hits) - 1} other layer(s)" if len(hits) > 1 else "")
    )
    return [ev.finding("rise_and_crash", [h[0].name for h in hits], (ev.step(j), ev.step(i)),
                       "warning", message, peak=high, low=low, crashes=n)]  # fmt: skip


def dead(ev: Evidence) -> list[Finding]:
    """Units (channels, features) whose output is the same for every item of the batch, over
    the last quarter of training: whatever module made them."""
    late = ev.late()
    hits = [(x, median(x.dead[late])) for x in ev.layers if x.spec.role != "input"]
    hits = [(x, share) for x, share in hits if share >= DEAD]
    if not hits:
        return []
    x, share = hits[0]
    top = max(s for _, s in hits)
    severity: Severity = "error" if top >= DEAD_ERROR else "warning"
    from_start = x.dead[0] >= DEAD  # dead before any update: made so, not killed by training
    when = "from the first step on" if from_start else "over the last quarter of training"
    message = (
        f"{share:.0%} of {who(x)}'s {units_word(x)} output the same value for every input "
        f"(dead) {when}"
    )
    if len(hits) > 1:
        message += "; also in " + ", ".join(f"{h.name} ({s:.0%})" for h, s in hits[1:])
    return [ev.finding("dead_activations", [h.name for h, _ in hits],
                       (ev.step(late.start), ev.step(-1)), severity, message,
                       _dead_case(x, from_start), share=share,
                       worst=top)]  # fmt: skip


def _dead_case(x: LayerStats, from_start: bool) -> str:
    """Which remedies dead units call for: a normalization that outputs a constant from the
    start, units made dead (by the initialisation or the data), or killed by training."""
    if not from_start:
        return ""
    return "dead_normalized" if x.spec.normalized else "dead_from_start"


def saturation(ev: Evidence) -> list[Finding]:
    """Most outputs of a saturating activation (sigmoid, tanh, a cap) pinned at its bounds."""
    late = ev.late()
    hits = []
    for x in ev.layers:
        if x.spec.bounds is not None:
            share = median(x.saturated[late])
            if share >= SATURATED:
                hits.append((x, share))
    if not hits:
        return []
    x, share = hits[0]
    lo, hi = x.spec.bounds or (None, None)
    where = " and ".join(f"{b:g}" for b in (lo, hi) if b is not None)
    message = (
        f"{share:.0%} of {who(x)}'s outputs sit within 1% of its bounds ({where}): saturated, "
        "they pass almost no gradient"
    )
    return [ev.finding("saturation", [h.name for h, _ in hits],
                       (ev.step(late.start), ev.step(-1)), "warning", message,
                       share=share)]  # fmt: skip


def probabilities(ev: Evidence) -> list[Finding]:
    """The model's output already holds probabilities while the loss makes them itself:
    rows in [0, 1] summing to 1 (a softmax) under a cross-entropy, which applies log-softmax;
    values in [0, 1] (a sigmoid) under binary cross-entropy on logits, which applies the
    sigmoid. A recorded loss below what such a loss can reach on probabilities (ln(1 + (C -
    1)/e) for C classes; -ln σ(1) = 0.31 for the binary one) is computed on something else:
    a model may return logits and probabilities, and train on the logits."""
    loss = ev.telemetry.meta.get("loss")
    if loss not in (None, "cross_entropy", "nll", "bce_with_logits") or not ev.cut:
        return []
    lowest = float(np.nanmin(ev.losses)) if np.isfinite(ev.losses).any() else math.nan
    for x in ev.layers:
        if x.spec.role != "output" or x.spec.ndim < 2 or not np.isfinite(x.min).any():
            continue
        if not (np.nanmin(x.min) >= 0 and np.nanmax(x.max) <= 1):
            continue
        if loss == "bce_with_logits":
            if lowest < FLOOR_MARGIN * -math.log(1 / (1 + math.exp(-1))):
                continue
            message = (
                f"the model's output {who(x)} lies in [0, 1] (a sigmoid?) while "
                "binary_cross_entropy_with_logits applies the sigmoid itself"
            )
            return [ev.finding("probabilities", [x.name], (ev.step(0), ev.step(-1)), "error",
                               message)]  # fmt: skip
        row_sums = x.mean * x.field("units")  # where the details were measured
        measured = np.isfinite(row_sums)
        classes = float(np.nanmedian(x.field("units")))
        if not measured.any() or lowest < FLOOR_MARGIN * math.log(1 + (classes - 1) / math.e):
            continue
        if np.mean(np.abs(row_sums[measured] - 1) < SUMS_TO_ONE) >= 0.9:
            severity: Severity = "error" if loss == "cross_entropy" else "warning"
            said = (
                "cross_entropy applies" if loss else "cross_entropy, if that is the loss, applies"
            )
            message = (
                f"the model's output {who(x)} holds probabilities (each row sums to 1); "
                f"{said} log_softmax itself, so the loss barely moves"
            )
            return [ev.finding("probabilities", [x.name], (ev.step(0), ev.step(-1)), severity,
                               message)]  # fmt: skip
    return []


def not_recorded(ev: Evidence) -> list[Finding]:
    """What the watcher could not see, said rather than taken for health."""
    t = ev.telemetry
    if not len(t.steps):
        return [ev.finding("not_recorded", [], (0, 0), "warning",
                           "no training step was recorded: no forward ran in training mode "
                           "with gradients enabled")]  # fmt: skip
    silent: dict[str, str] = t.meta.get("not_recorded", {})
    if not any(s.role != "input" for s in t.specs):
        why = "; ".join(f"{n}: {w}" for n, w in silent.items()) or "no module output a tensor"
        return [ev.finding("not_recorded", list(silent), (0, 0), "warning",
                           f"no layer's output was recorded ({why})")]  # fmt: skip
    out = []
    if silent:
        said = "; ".join(f"{n}: {w}" for n, w in silent.items())
        out.append(ev.finding("not_recorded", list(silent), (0, 0), "info",
                              f"output not recorded for {said}"))  # fmt: skip
    if "loss" not in t.meta:
        out.append(ev.finding("not_recorded", [], (0, 0), "info",
                              "the loss was not recorded, so the rules on the loss curve did "
                              "not run: call record_loss(loss) at each step"))  # fmt: skip
    return out
