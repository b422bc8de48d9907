"""diagnose: the lesson's broken and healthy setups on real data, and what it reads besides
the telemetry (the epochs' losses, a command-line run's options)."""

from __future__ import annotations

import numpy as np
import torch

import lookinside as li
from lookinside.diagnosis import format_findings

from .synthetic import spec, std, telemetry


def train_and_diagnose(dls: li.DataLoaders, lr: float, **cnn_args: object) -> list[li.Finding]:
    torch.manual_seed(0)
    learn = li.Learner(li.cnn(**cnn_args), dls, lr=lr, cbs=[li.ActivationStats()])  # type: ignore[arg-type]
    learn.progress_bar.rows = False
    learn.fit(1)
    return learn.activation_stats.diagnose()


def test_the_lessons_broken_setup_is_diagnosed_causes_first(mnist_subset: li.DataLoaders) -> None:
    """Default init at lr 0.9: the lesson saw stds shrink with depth (11x over its 4 blocks:
    worth knowing), then rise and crash, a loss that goes back up, and much of the last
    layer's activations at zero."""
    findings = train_and_diagnose(mnist_subset, lr=0.9, init="default")
    said = [(f.kind, f.severity) for f in findings]
    assert said == [
        ("vanishing", "info"),
        ("vanishing_gradients", "info"),
        ("rise_and_crash", "warning"),
        ("oscillation", "warning"),
        ("dead_activations", "warning"),
    ], format_findings(findings)
    vanishing = findings[0]
    assert vanishing.layers[0] == "3" and "from 0 (Sequential: Conv2d, ReLU)" in vanishing.message
    assert "init_cnn" in vanishing.advice  # a Python reader gets code, not flags
    dead = next(f for f in findings if f.kind == "dead_activations")
    assert dead.layer == "3" and dead.evidence["share"] >= 0.25 and dead.plot == "near_zero"
    assert "GeneralRelu" in dead.advice


def test_the_lessons_fixes_get_no_warning(mnist_subset: li.DataLoaders) -> None:
    """Kaiming init, GeneralRelu and BatchNorm."""
    findings = train_and_diagnose(
        mnist_subset, lr=0.9, act="general", norm="batch", nfs=(8, 16, 32, 64, 64)
    )
    assert findings == [], format_findings(findings)


def test_a_command_line_run_gets_flags_and_never_what_it_uses() -> None:
    t = telemetry([(spec("a"), std(1.0, 40)), (spec("b"), std(0.01, 40))])
    (f,) = [f for f in li.diagnose(t, options={"init": "default", "norm": "batch"})
            if f.kind == "vanishing"]  # fmt: skip
    assert (
        f.advice
        == "initialise the weights with kaiming's gain, √2/√fan_in for ReLU (--init kaiming)"
    )


def test_one_finding_never_hides_the_others() -> None:
    bad = np.where(np.arange(40) >= 30, np.nan, 1.0)
    a = {**std(1.0, 40), "max": bad}
    b = {**std(0.01, 40), "dead": 6.0}
    t = telemetry([(spec("a"), a), (spec("b"), b)], losses=np.linspace(2.3, 0.5, 40))
    kinds = [f.kind for f in li.diagnose(t)]
    assert kinds == ["non_finite", "dead_activations"]  # the NaN does not silence the rest
