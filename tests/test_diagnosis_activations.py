"""The rules on outputs, each at the edge of its threshold, on synthetic telemetry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import lookinside as li
from lookinside.diagnosis import activations as rules
from lookinside.diagnosis.evidence import Evidence
from lookinside.telemetry import LayerSpec

from .synthetic import N, spec, std, telemetry


def kinds(t: li.Telemetry) -> list[str]:
    """The kinds found, but the note that no loss was recorded (these have none)."""
    return [f.kind for f in li.diagnose(t) if f.kind != "not_recorded"]


def only(kind: str, t: li.Telemetry) -> li.Finding:
    (f,) = [f for f in li.diagnose(t) if f.kind == kind]
    return f


# ---------------------------------------------------------------- non-finite values
def nan_from(step: int, steps: int = 10) -> np.ndarray:
    return np.where(np.arange(steps) >= step, np.nan, 0.0)


def test_the_first_non_finite_layer_and_step_in_forward_order() -> None:
    t = telemetry(
        [(spec("a"), {"max": nan_from(6)}), (spec("b"), {"sum": nan_from(4)}),
         (spec("c"), {"max": nan_from(4)})],
        steps=10,
    )  # fmt: skip
    f = only("non_finite", t)
    assert (f.layer, f.steps, f.severity) == ("b", (4, 4), "error")
    assert "activations of b (Linear) became non-finite at step 4" in f.message


def test_a_gradient_or_the_loss_can_go_first() -> None:
    bad_grad = [(spec("a"), {}), (spec("b"), {"gsum": nan_from(3)}), (spec("c"), {})]
    f = only("non_finite", telemetry(bad_grad, steps=10))
    assert (f.layer, f.steps) == ("b", (3, 3)) and "gradient of b" in f.message
    losses = np.where(np.arange(10) >= 2, np.inf, 1.0)  # a NaN loss is recorded as inf
    f = only("non_finite", telemetry([(spec("a"), {"max": nan_from(3)})], 10, losses))
    assert (f.layer, f.steps) == ("loss", (2, 2))
    unrecorded = np.where(np.arange(10) == 2, np.nan, 1.0)  # NaN: a step without a loss
    assert "non_finite" not in kinds(telemetry([(spec("a"), {})], 10, unrecorded))


def test_a_sparse_record_says_between_which_recorded_steps_it_went() -> None:
    """Recorded steps 0-7, then every 8th: a layer non-finite at step 16 went so after 8."""
    t = telemetry([(spec("a"), {}), (spec("b"), {"max": nan_from(9, 10)})], steps=10)
    t = dataclasses.replace(t, steps=np.r_[np.arange(8), 8, 16])
    f = only("non_finite", t)
    assert f.steps == (16, 16) and "became non-finite by step 16 (recorded after 8)" in f.message
    dense = only("non_finite", telemetry([(spec("b"), {"max": nan_from(3)})], steps=10))
    assert "at step 3" in dense.message


def test_a_huge_but_finite_output_is_not_non_finite() -> None:
    # Σx overflowed float32 (1e36 × 1000 values), every value finite: no error.
    huge = {"sum": np.inf, "sumsq": np.inf, "min": -1e36, "max": 1e36}
    assert "non_finite" not in kinds(telemetry([(spec("a"), huge)], steps=10))
    # A -inf shows in Σx alone; with ordinary extremes no overflow explains it.
    minus_inf = {"sum": -np.inf, "min": -2.0, "max": 2.0}
    assert "non_finite" in kinds(telemetry([(spec("a"), minus_inf)], steps=10))


def test_the_other_rules_read_the_steps_before_the_first_non_finite_one() -> None:
    dead_late = np.where(np.arange(40) >= 30, 10.0, 0.0)  # dead only after the NaN
    t = telemetry([(spec("a"), {"dead": dead_late, "max": nan_from(30, 40)})])
    assert kinds(t) == ["non_finite"]
    dead_early = {"dead": 10.0, "max": nan_from(30, 40)}  # dead before it: both said
    assert set(kinds(telemetry([(spec("a"), dead_early)]))) == {"non_finite", "dead_activations"}


# ---------------------------------------------------------------- inputs
@pytest.mark.parametrize(
    ("mean", "sd", "found"),
    [(0.0, 4.9, False), (0.0, 5.1, True), (4.9, 1.0, False), (-5.1, 1.0, True),
     (0.0, 0.0011, False), (0.0, 0.0009, True)],
)  # fmt: skip
def test_inputs_far_from_mean_0_and_std_1(mean: float, sd: float, found: bool) -> None:
    fields = {"sum": mean * N, "sumsq": (sd**2 + mean**2) * N}
    t = telemetry([(spec("input", kind="input", role="input"), fields), (spec("a"), {})])
    assert ("inputs" in kinds(t)) is found


# ---------------------------------------------------------------- depth, growth, crash
def chain(*stds: float) -> list[tuple[LayerSpec, dict[str, np.ndarray]]]:
    """Layers of one kind, each given the previous one's output (rms = std: mean 0), whose
    std at the first step is the given one (1 at the others: training fixes it)."""
    given = (1.0, *stds[:-1])
    return [(spec(f"{chr(97 + i)}", input_rms=g), std(np.r_[s, np.ones(39)], 40))
            for i, (s, g) in enumerate(zip(stds, given, strict=True))]  # fmt: skip


def test_vanishing_and_exploding_with_depth_at_the_first_step_with_the_true_factor() -> None:
    def layers(last: float) -> li.Telemetry:
        return telemetry(chain(1.0, 0.3, last))

    f = only("vanishing", layers(0.099))
    assert f.layer == "c" and f.layers == ("c", "a", "b") and f.severity == "info"
    assert f.evidence["factor"] == pytest.approx(1 / 0.099, rel=1e-3) and "10x" in f.message
    assert "vanishing" not in kinds(layers(0.101))
    assert only("vanishing", layers(0.0101)).severity == "info"  # 99x
    assert only("vanishing", layers(0.0099)).severity == "warning"  # 101x
    assert only("vanishing", layers(1.01e-4)).severity == "warning"
    assert only("vanishing", layers(0.99e-4)).severity == "error"  # 10101x
    assert only("exploding", layers(10.1)).evidence["factor"] == pytest.approx(10.1)
    assert "exploding" not in kinds(layers(9.9))


def test_depth_needs_the_layers_themselves_to_shrink_what_they_are_given() -> None:
    # Raw inputs make the first conv's output 40x the others', though each keeps its input's
    # size (a BatchNorm in between resets it): no vanishing.
    raw = [(spec("a", input_rms=80.0), std(40.0, 40)), (spec("b", input_rms=1.0), std(1.0, 40)),
           (spec("c", input_rms=1.0), std(1.0, 40))]  # fmt: skip
    assert "vanishing" not in kinds(telemetry(raw))
    # Layers after a normalization are left out: their gain is the norm's.
    normed = [(spec("a", normalized=True), std(1.0, 40)), (spec("b", normalized=True),
               {**std(0.01, 40), "sum": 0.0})]  # fmt: skip
    assert kinds(telemetry(normed)) == []
    assert "vanishing" in kinds(telemetry(chain(1.0, 0.1, 0.01)))


def test_depth_compares_like_with_like() -> None:
    """An embedding's output is never compared with an LSTM's."""
    t = telemetry([(spec("emb", kind="Embedding"), std(1.0, 40)),
                   (spec("rnn[0]", kind="LSTM[0]"), std(0.01, 40))])  # fmt: skip
    assert kinds(t) == []


def test_depth_leaves_out_layers_dead_at_the_first_step() -> None:
    t = telemetry([(spec("a"), std(1.0, 40)), (spec("b"), {**std(0.01, 40), "dead": 6.0})])
    assert "vanishing" not in kinds(t)


def test_growth_during_training_over_the_start_or_one() -> None:
    def grown(start: float, peak: float) -> li.Telemetry:
        curve = np.geomspace(start, peak, 40)
        return telemetry([(spec("a"), std(1.0, 40)), (spec("b"), std(curve, 40))])

    f = only("exploding", grown(1.0, 101.0))
    assert f.layer == "b" and f.steps[0] == 39 and f.severity == "warning"
    assert "exploding" not in kinds(grown(1.0, 99.0))
    assert "exploding" not in kinds(grown(1e-10, 1e-7))  # 1000x, but from a vanishing start
    assert only("exploding", grown(1.0, 1e7)).severity == "error"


def test_growth_reads_the_largest_value_where_the_sum_of_squares_overflowed() -> None:
    big = np.r_[np.full(20, 3.0), np.full(20, 1e24)]
    sumsq = np.r_[np.full(20, N), np.full(20, np.inf)]
    t = telemetry([(spec("a"), {"max": big, "min": -big, "sumsq": sumsq, "sum": 0.0})])
    f = only("exploding", t)
    assert f.evidence["factor"] == pytest.approx(1e24) and "non_finite" not in kinds(t)


def test_rise_and_crash_counts_the_crashes() -> None:
    curve = np.array([1, 2, 3, 0.3, 2, 3.5, 0.2, 1, 1, 1.0])
    t = telemetry([(spec("a"), std(curve, 10)), (spec("b", kind="Conv"), std(curve, 10)),
                   (spec("c", kind="Other"), {})], steps=10)  # fmt: skip
    f = only("rise_and_crash", t)
    assert f.layers == ("a", "b") and f.evidence["crashes"] == 2 and f.steps == (2, 3)


def test_a_constant_output_s_rounding_noise_is_no_rise_and_crash() -> None:
    # A unit stuck at 3.0: E[X²] - E[X]² in float32 leaves a std of about 1e-7, up and down.
    wobble = np.array([1e-7, 3e-7, 7e-7, 0.0, 2e-7, 6e-7, 0.0, 1e-7, 1e-7, 1e-7])
    sums = {"sum": 3.0 * N, "sumsq": (9.0 + wobble**2) * N}
    assert "rise_and_crash" not in kinds(telemetry([(spec("a"), sums)], steps=10))


# ---------------------------------------------------------------- dead units, saturation
@pytest.mark.parametrize(("dead", "severity"), [(2.4, None), (2.6, "warning"), (7.6, "error")])
def test_dead_units_over_the_last_quarter(dead: float, severity: str | None) -> None:
    t = telemetry([(spec("input", role="input"), {"dead": 10.0}), (spec("a"), {"dead": dead}),
                   (spec("b"), {"dead": 9.0})])  # fmt: skip  # 10 units each
    (f,) = [f for f in li.diagnose(t) if f.kind == "dead_activations"]
    if severity is None:
        assert f.layers == ("b",)  # a is below the threshold; the input is never dead
    else:
        assert f.layers == ("a", "b") and f.severity == "error"  # b is 90 % dead
        assert f"{dead / 10:.0%} of a (Linear)'s units" in f.message


def test_units_dead_from_the_start_point_at_the_init_or_at_a_normalization() -> None:
    made = only("dead_activations", telemetry([(spec("a"), {"dead": 9.0})]))
    assert "from the first step on" in made.message
    assert made.remedies[0].name == "check_init"
    normed = telemetry([(spec("a", normalized=True), {"dead": 10.0})])  # InstanceNorm on 1x1
    assert [r.name for r in only("dead_activations", normed).remedies] == ["widen_norm"]
    late = np.where(np.arange(40) >= 20, 10.0, 0.0)  # killed by training: not the norm's doing
    killed = only("dead_activations", telemetry([(spec("a", normalized=True), {"dead": late})]))
    assert "widen_norm" not in [r.name for r in killed.remedies]


def test_dead_units_are_channels_for_images() -> None:
    t = telemetry([(spec("conv", unit_dim=1, ndim=4), {"dead": 5.0})])
    assert "channels" in only("dead_activations", t).message


def test_saturation_at_the_bounds_of_a_saturating_activation() -> None:
    def tanh(share: float, bounds: tuple[float, float] | None = (-1.0, 1.0)) -> li.Telemetry:
        return telemetry([(spec("tanh", kind="Tanh", bounds=bounds), {"bound": share * 100})])

    assert only("saturation", tanh(0.51)).evidence["share"] == pytest.approx(0.51)
    assert "saturation" not in kinds(tanh(0.49))
    assert "saturation" not in kinds(tanh(0.9, bounds=None))


# ---------------------------------------------------------------- probabilities, not recorded
def output(mean: float, lo: float = 0.0, hi: float = 1.0) -> dict[str, float]:
    return {"sum": mean * N, "sumsq": N, "min": lo, "max": hi, "units": 10.0}


def test_probabilities_handed_to_cross_entropy() -> None:
    out = spec("output", role="output", ndim=2)
    f = only("probabilities", telemetry([(out, output(0.1))], losses=2.0))
    assert f.severity == "error" and "cross_entropy applies log_softmax itself" in f.message
    assert "probabilities" not in kinds(telemetry([(out, output(0.12))], losses=2.0))
    assert "probabilities" not in kinds(telemetry([(out, output(0.1, lo=-0.1))], losses=2.0))
    mse = telemetry([(out, output(0.1))], losses=0.5, meta={"loss": "mse"})
    assert "probabilities" not in kinds(mse)


def test_a_sigmoid_handed_to_binary_cross_entropy_on_logits() -> None:
    out = spec("output", role="output", ndim=2)
    bce = {"loss": "bce_with_logits"}
    f = only("probabilities", telemetry([(out, output(0.3))], losses=0.69, meta=bce))
    assert "applies the sigmoid itself" in f.message and f.severity == "error"
    below = telemetry([(out, output(0.3))], losses=0.2, meta=bce)  # 0.31 is the least it can be
    assert "probabilities" not in kinds(below)
    logits = telemetry([(out, output(0.3, lo=-4.0, hi=4.0))], losses=0.69, meta=bce)
    assert "probabilities" not in kinds(logits)


def test_a_loss_below_cross_entropy_s_floor_is_not_on_these_probabilities() -> None:
    """LeNet-5 returns (logits, probabilities) and trains on the logits: for 10 classes,
    cross-entropy over probabilities never falls below ln(1 + 9/e) = 1.46."""
    out = spec("output[1]", role="output", ndim=2)
    assert "probabilities" not in kinds(telemetry([(out, output(0.1))], losses=1.42))
    assert "probabilities" in kinds(telemetry([(out, output(0.1))], losses=1.44))


def test_what_was_not_recorded_is_said() -> None:
    empty = li.Telemetry([], np.zeros(0, np.int64), np.zeros((0, 0, 16)), np.zeros((0, 0, 40)),
                         np.zeros(0))  # fmt: skip
    (f,) = li.diagnose(empty)
    assert (f.kind, f.severity) == ("not_recorded", "warning") and "no training step" in f.message
    silent = {"not_recorded": {"head": "its output is a str without float tensors"}}
    t = telemetry([(spec("input", role="input"), {})], meta=silent)
    (f,) = [f for f in li.diagnose(t) if f.severity == "warning"]
    assert f.kind == "not_recorded" and "head: its output is a str" in f.message
    t = telemetry([(spec("a"), {})], meta=silent)
    said = [f.message for f in li.diagnose(t) if f.kind == "not_recorded"]
    assert said == [
        "output not recorded for head: its output is a str without float tensors",
        "the loss was not recorded, so the rules on the loss curve did not run: call "
        "record_loss(loss) at each step",
    ]
    assert all(f.severity == "info" for f in li.diagnose(t))


def test_groups_keep_forward_order() -> None:
    ev = Evidence.of(telemetry([(spec("a"), {}), (spec("x", kind="Other"), {}), (spec("b"), {})]))
    assert [[x.name for x in g] for g in rules.groups(ev.hidden())] == [["a", "b"]]
