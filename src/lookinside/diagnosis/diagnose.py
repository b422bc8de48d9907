"""`diagnose(telemetry)`: every rule over a recorded run, findings ranked by root cause.

The rules (each in its module) look for what practitioners meet: non-finite values (the first
layer and step, exactly), unnormalised inputs, probabilities handed to cross-entropy,
parameters left out of the optimizer, BatchNorm over too few items, activations or gradients
that vanish or explode with depth, activations that grow without bound or rise and crash, a
loss that oscillates, dead units, saturated activations, outputs that receive no gradient, a
loss that does not fall (or sits at the level of a uniform guess), overfitting, frozen layers,
and what could not be recorded. Past the first non-finite step the statistics are noise: the
other rules read the steps before it, so one finding never hides the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..telemetry import Telemetry
from . import activations, batches, curves, gradients
from .evidence import Evidence
from .findings import Finding, Findings, ranked

RULES = (
    activations.inputs,
    activations.probabilities,
    gradients.not_updated,
    batches.small_batch,
    activations.depth,
    gradients.gradient_depth,
    activations.growth,
    activations.rise_and_crash,
    curves.oscillation,
    activations.saturation,
    activations.dead,
    gradients.no_gradient,
    curves.stalled,
    curves.overfitting,
    gradients.frozen,
    activations.not_recorded,
)


def diagnose(
    telemetry: Telemetry,
    epochs: Sequence[Mapping[str, float]] = (),
    options: Mapping[str, Any] | None = None,
) -> Findings:
    """The findings of every rule (see this module's docstring), causes first.

    Args:
        telemetry: what `watch` or `ActivationStats` recorded.
        epochs: per finished epoch, its losses (`train_loss`, `valid_loss`): the
            overfitting rule and the chance level read them.
        options: for a `lookinside train` run, its configuration: the advice then names the
            command line's flags, and skips what the run already uses.
    """
    event = activations.first_non_finite(telemetry)
    evidence = Evidence.of(telemetry, epochs, options, cut=None if event is None else event[0])
    findings = [activations.non_finite(evidence, event)] if event is not None else []
    for rule in RULES:
        findings += rule(evidence)
    return Findings(ranked(explained(findings)))


CAUSES = {
    "inputs", "probabilities", "not_updated", "small_batch", "vanishing", "exploding",
    "vanishing_gradients", "exploding_gradients", "non_finite", "saturation",
    "dead_activations", "no_gradient",
}  # fmt: skip
SYMPTOMS = {"chance", "no_learning"}


def explained(findings: list[Finding]) -> list[Finding]:
    """A loss that does not fall, next to a warning or error that explains it (or frozen
    layers), is a symptom: said as a note, without its own advice (checking the labels, or
    raising the learning rate, would send the reader the wrong way)."""
    causes = [
        f for f in findings
        if (f.kind in CAUSES and f.severity != "info") or f.kind == "frozen"
    ]  # fmt: skip
    if not causes:
        return findings
    return [
        replace(f, severity="info", advice="", remedies=(),
                message=f"{f.message} (the findings above explain it)")
        if f.kind in SYMPTOMS else f
        for f in findings
    ]  # fmt: skip
