"""Remedies that fit the reader (code, or the command line's flag) and never repeat what the
run already does."""

from __future__ import annotations

import lookinside as li
from lookinside.diagnosis.advice import Setup, advice, remedies

from .synthetic import spec, std, telemetry


def vanishing(gain: float, **meta: object) -> li.Telemetry:
    layers = [(spec("a", init_gain=gain), std(1.0, 40)), (spec("b", init_gain=gain), std(0.01, 40))]
    return telemetry(layers, meta=meta)


def names(t: li.Telemetry, kind: str, options: dict[str, object] | None = None) -> list[str]:
    (f,) = [f for f in li.diagnose(t, options=options) if f.kind == kind]
    return [r.name for r in f.remedies]


def test_kaiming_is_advised_unless_the_weights_or_the_options_already_have_it() -> None:
    assert names(vanishing(0.1), "vanishing") == ["kaiming_init", "add_norm"]
    assert names(vanishing(1.41), "vanishing") == ["add_norm"]  # measured: kaiming's √2
    assert names(vanishing(0.1), "vanishing", {"init": "kaiming"}) == ["add_norm"]


def test_a_model_with_a_norm_layer_is_not_told_to_add_one() -> None:
    assert names(vanishing(0.1, norm_layers=["BatchNorm1d"]), "vanishing") == ["kaiming_init"]
    assert names(vanishing(0.1), "vanishing", {"norm": "batch"}) == ["kaiming_init"]


def test_a_model_with_instance_norm_is_told_to_replace_it_first() -> None:
    def said(kind: str, norms: list[str]) -> list[str]:
        found = remedies(kind, Setup(norm_layers=tuple(norms)), [])
        return [r.name for r in found]

    assert said("vanishing_gradients", ["InstanceNorm2d"])[0] == "not_instance_norm"
    assert said("dead_normalized", ["InstanceNorm"]) == ["not_instance_norm", "widen_norm"]
    assert "not_instance_norm" not in said("vanishing_gradients", ["BatchNorm2d"])


def test_python_readers_get_code_and_command_line_readers_get_flags() -> None:
    t = vanishing(0.1)
    (python,) = [f for f in li.diagnose(t) if f.kind == "vanishing"]
    assert "lookinside.nn.init_cnn(model)" in python.advice and "--init" not in python.advice
    (cli,) = [f for f in li.diagnose(t, options={"init": "default"}) if f.kind == "vanishing"]
    assert "(--init kaiming)" in cli.advice and "(--norm batch)" in cli.advice
    assert "init_cnn" not in cli.advice


def test_the_learning_rate_advice_names_the_run_s_own() -> None:
    setup = Setup.of(telemetry([(spec("a"), {})]), {"lr": 0.4})
    (lower,) = [r for r in remedies("oscillation", setup, []) if r.name == "lower_lr"]
    assert lower.flag == "--lr 0.04" and "it reached 0.4" in lower.text
    measured = Setup.of(telemetry([(spec("a"), {})], meta={"lr": 0.1}))
    assert "it reached 0.1" in remedies("oscillation", measured, [])[0].text
    assert not measured.cli and "ten times" in advice(
        remedies("oscillation", measured, []), measured
    )


def test_what_the_run_uses_is_never_advised() -> None:
    setup = Setup.of(
        telemetry([(spec("a"), {})], meta={"activations": ["LeakyReLU"]}),
        {"sched": "one-cycle", "clip": 1.0, "act": "relu"},
    )
    found = {
        r.name for kind in ("dead_activations", "oscillation") for r in remedies(kind, setup, [])
    }
    assert "general_relu" not in found and "warm_up" not in found and "clip_gradients" not in found
    assert "lower_lr" in found
