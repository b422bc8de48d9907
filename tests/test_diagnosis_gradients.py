"""The rules on gradients and parameters, each at the edge of its threshold."""

from __future__ import annotations

import numpy as np
import pytest

import lookinside as li

from .synthetic import grad_rms, spec, telemetry


def found(t: li.Telemetry, kind: str) -> list[li.Finding]:
    return [f for f in li.diagnose(t) if f.kind == kind]


def three(first: float, kind: str = "Linear") -> li.Telemetry:
    """Three layers of one kind whose output gradients at the start go first, 1e-3, 1e-2."""
    return telemetry([(spec(n, kind=kind), grad_rms(g, 40)) for n, g in
                      (("a", first), ("b", 1e-3), ("c", 1e-2))])  # fmt: skip


@pytest.mark.parametrize(
    ("first", "severity"),
    [(1.1e-3, None), (0.9e-3, "info"), (1.01e-4, "info"), (0.99e-4, "warning")],
)
def test_vanishing_gradients_from_the_last_layer_back_to_the_first(
    first: float, severity: str | None
) -> None:
    hits = found(three(first), "vanishing_gradients")
    if severity is None:
        assert hits == []
    else:
        (f,) = hits
        assert f.severity == severity and f.layers == ("a", "b", "c")
        assert "from c (Linear) back to a (Linear)" in f.message


def test_exploding_gradients() -> None:
    (f,) = found(three(1.01), "exploding_gradients")
    assert f.severity == "warning" and f.evidence["factor"] == pytest.approx(101)


def test_gradient_norms_not_values_are_compared() -> None:
    """A wide feature map's gradient is small per value by its size alone: with the same
    norm over the batch, 168,000 values against 84 (45x less per value) is no vanishing."""
    wide = {"gn": 168_000.0, "gsumsq": 1e-4}
    narrow = {"gn": 84.0, "gsumsq": 1e-4}
    t = telemetry([(spec("conv"), wide), (spec("fc"), narrow)])
    assert found(t, "vanishing_gradients") == []


def test_a_shared_layers_gradient_counts_per_call() -> None:
    """A layer called 400 times a step adds 400 gradients up (norm 20x one call's): compared
    per call, its gradient equals the first layer's, no exploding gradients."""
    shared = {"gn": 400.0 * 84, "gsumsq": 400 * 1e-4}
    t = telemetry([(spec("first"), {"gn": 84.0, "gsumsq": 1e-4}),
                   (spec("shared", calls=400), shared)])  # fmt: skip
    assert found(t, "vanishing_gradients") == []
    once = telemetry([(spec("first"), {"gn": 84.0, "gsumsq": 1e-4}), (spec("shared"), shared)])
    assert found(once, "vanishing_gradients")  # the same numbers read as one call: 20x


def test_gradients_of_different_kinds_are_not_compared() -> None:
    t = telemetry([(spec("a", kind="A"), grad_rms(1e-9, 40)), (spec("b", kind="B"), {})])
    assert found(t, "vanishing_gradients") == []


def test_no_gradient_is_exactly_zero_over_the_last_quarter() -> None:
    zero_late = np.where(np.arange(40) >= 20, 0.0, 1e-3)
    t = telemetry([(spec("a"), grad_rms(zero_late, 40)), (spec("b", kind="B"), {})])
    (f,) = found(t, "no_gradient")
    assert f.layer == "a" and f.severity == "warning"
    tiny = telemetry([(spec("a"), grad_rms(1e-20, 40))])
    assert found(tiny, "no_gradient") == []
    unrecorded = telemetry([(spec("a"), {"gn": np.nan, "gsumsq": 0.0})])
    assert found(unrecorded, "no_gradient") == []


def test_parameters_in_no_optimizer() -> None:
    t = telemetry([(spec("a"), {}), (spec("b"), {})], meta={"not_in_optimizer": ["a"]})
    (f,) = found(t, "not_updated")
    assert (f.layer, f.severity) == ("a", "error") and "give every parameter" in f.advice
    assert found(telemetry([(spec("a"), {})], meta={"not_in_optimizer": []}), "not_updated") == []


def test_frozen_layers_are_worth_knowing_not_a_warning() -> None:
    frozen_a = spec("a", params=10, trainable=0)
    t = telemetry([(frozen_a, {}), (spec("b", params=10, trainable=10), {}), (spec("c"), {})])
    (f,) = found(t, "frozen")
    assert (f.layers, f.severity) == (("a",), "info")
