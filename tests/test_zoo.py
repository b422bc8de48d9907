"""The diagnosis zoo: its scoring, its independent non-finite check, and a fast subset of its
cases run for real (the whole zoo is `benchmarks/diagnosis_zoo.py`)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lookinside as li
from lookinside.zoo.cases import CASES, case_named
from lookinside.zoo.run import ORACLE, Case, Expect, FirstNonFinite, run_case, score

FAST = [
    "mlp-bn-after", "mlp-dict", "lstm", "transformer-pre-ln",
    "mlp-init-tiny", "mlp-nan", "mlp-watch-dead", "mlp-not-in-optimizer", "mlp-softmax",
    "mlp-raw-pixels", "cnn-lr-100", "rnn-nan", "gru-shuffled-labels", "lstm-lr-tiny",
]  # fmt: skip


def test_the_zoo_is_large_and_labelled() -> None:
    healthy = [c for c in CASES if c.healthy]
    assert len(CASES) >= 40 and len(healthy) >= 15 and len(CASES) - len(healthy) >= 25
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.family for c in CASES} == {"mlp", "cnn", "resnet", "rnn", "transformer"}


@pytest.mark.parametrize("name", FAST)
def test_a_fast_case(name: str) -> None:
    result = run_case(case_named(name))
    assert result.passed, f"{name}: {result.problems}; found {result.found()}"


def finding(kind: str, layer: str = "", step: int = 0, severity: str = "warning") -> li.Finding:
    return li.Finding(kind, layer, (step, step), severity, kind)  # type: ignore[arg-type]


def case(*expect: Expect, forbid: tuple[str, ...] = ()) -> Case:
    return Case("c", "mlp", "", nn.Identity, lambda: None, 0.1, expect=expect, forbid=forbid)  # type: ignore[arg-type,return-value]


def test_scoring() -> None:
    dead = case(Expect("dead_activations", "body", first=True))
    assert score(dead, [finding("dead_activations", "body.layers.3", severity="error")], None) == []
    assert score(dead, [finding("dead_activations", "head")], None) == [
        "dead_activations at the wrong layer (true: body)"
    ]
    assert score(dead, [finding("chance"), finding("dead_activations", "body")], None) == [
        "dead_activations not first"
    ]
    assert score(dead, [finding("chance")], None) == ["missed dead_activations"]
    healthy = case()
    assert score(healthy, [finding("frozen", severity="info")], None) == []
    assert score(healthy, [finding("dead_activations", "a")], None) == [
        "false alarm: dead_activations@a"
    ]
    chance = case(Expect("chance"), forbid=("oscillation",))
    assert score(chance, [finding("chance"), finding("oscillation")], None) == [
        "forbidden oscillation"
    ]


def test_non_finite_findings_must_agree_with_the_independent_check() -> None:
    nan = case(Expect("non_finite", ORACLE))
    assert score(nan, [finding("non_finite", "rnn[0]", 8, "error")], ("rnn", 8)) == []
    assert score(nan, [finding("non_finite", "fc", 7, "error")], ("rnn", 8)) == [
        "non_finite at the wrong layer (true: rnn)", "non_finite at the wrong step (true: 8)"
    ]  # fmt: skip
    assert score(case(), [finding("non_finite", "a", 3, "error")], None)[-1] == (
        "non_finite, while every output stayed finite"
    )
    assert score(case(Expect("chance")), [finding("chance")], ("a", 2)) == ["missed non_finite"]


def test_the_independent_check_finds_the_first_non_finite_layer_and_step() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)).train()
    check = FirstNonFinite(model)
    for step in range(4):
        x = torch.randn(8, 3)
        out = model(x * float("nan") if step == 2 else x)
        check.loss(out.sum())
    check.remove()
    assert check.first == ("0", 2) and not model._forward_hooks


def test_every_faulty_case_has_a_healthy_twin() -> None:
    from lookinside.zoo.twins import FIXES, faulty_cases, twin

    faulty = faulty_cases()
    assert {c.name for c in faulty} == set(FIXES)
    for case in faulty:
        healthy = twin(case)
        assert healthy.healthy and healthy.name == f"{case.name}-twin"
        changed = {k for k in FIXES[case.name] if getattr(healthy, k) != getattr(case, k)}
        assert changed == set(FIXES[case.name]), case.name  # each fix changes something


def test_a_repair_on_the_zoo_removes_the_finding_and_recovers_the_accuracy() -> None:
    from lookinside.zoo.repair import repair_case

    repair = repair_case(case_named("mlp-softmax"), seeds=(0,))
    assert repair.repairable and repair.best is not None
    assert repair.best.variant == "return_logits" and repair.removed
    assert repair.original.accuracy < 0.6 < repair.twin_accuracy
    assert repair.recovered > 0.9 and repair.repaired
