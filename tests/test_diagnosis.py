"""diagnose: the lesson's broken and healthy setups on real data, and each rule on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lookinside as li
from lookinside.diagnosis import format_findings
from lookinside.telemetry import LayerSpec, Telemetry


def train_and_diagnose(dls: li.DataLoaders, lr: float, **cnn_args: object) -> list[li.Finding]:
    torch.manual_seed(0)
    learn = li.Learner(li.cnn(**cnn_args), dls, lr=lr, cbs=[li.ActivationStats()])  # type: ignore[arg-type]
    learn.progress_bar.rows = False
    learn.fit(1)
    return learn.activation_stats.diagnose()


def test_the_lessons_broken_setup_is_diagnosed(mnist_subset: li.DataLoaders) -> None:
    """Default init, no norm, lr 0.9: the lesson saw means and stds rise and crash."""
    findings = train_and_diagnose(mnist_subset, lr=0.9, init="default")
    kinds = {f.kind for f in findings}
    assert {"rise_and_crash", "dead_activations", "vanishing"} <= kinds
    dead = next(f for f in findings if f.kind == "dead_activations")
    assert (
        dead.evidence["share"] >= 0.9 and "GeneralRelu" in dead.advice and dead.plot == "near_zero"
    )
    assert "kaiming" in next(f for f in findings if f.kind == "vanishing").advice


def test_a_healthy_setup_gets_no_warning(mnist_subset: li.DataLoaders) -> None:
    """Kaiming init, GeneralRelu and BatchNorm: the lesson's fixes."""
    findings = train_and_diagnose(
        mnist_subset, lr=0.9, act="general", norm="batch", nfs=(8, 16, 32, 64, 64)
    )
    assert findings == [], format_findings(findings)
    assert format_findings([]) == "diagnosis: nothing looks wrong in the activations."


def synthetic(
    std: np.ndarray,
    near: np.ndarray | None = None,
    maxv: float | None = None,
    rectified: bool = True,
) -> Telemetry:
    """Telemetry whose layers have the given std per step (S, L) and near-zero share."""
    steps, layers = std.shape
    counts = np.full((steps, layers), 1000.0)
    bins = 40
    hist = np.zeros((steps, layers, bins))
    share = near if near is not None else np.full((steps, layers), 0.1)
    hist[:, :, 0] = share * 1000
    hist[:, :, 20] = (1 - share) * 1000
    specs = [
        LayerSpec(str(i), f"layer {i}", 0.0, 10.0, 0.0, rectified, maxv) for i in range(layers)
    ]
    sumsqs = std**2 * counts  # mean 0
    return Telemetry(
        specs, np.arange(steps), np.zeros((steps, layers)), sumsqs, counts, hist, counts.copy()
    )


def test_vanishing_and_exploding_with_depth() -> None:
    std = np.tile([1.0, 0.3, 0.05, 1.0], (10, 1))
    (f,) = li.diagnose(synthetic(std))
    assert (
        f.kind == "vanishing" and f.layer == "2" and f.evidence["last_std"] == pytest.approx(0.05)
    )
    (g,) = li.diagnose(synthetic(np.tile([1.0, 4.0, 20.0, 1.0], (10, 1))))
    assert g.kind == "exploding" and "grows 20x" in g.message


def test_rise_and_crash_counts_the_crashes() -> None:
    curve = np.array([1, 2, 3, 0.3, 2, 3.5, 0.2, 1, 1, 1.0])
    (f,) = li.diagnose(synthetic(np.stack([curve, curve, np.ones(10)], 1)))
    assert f.kind == "rise_and_crash" and f.layer == "0, 1"
    assert f.evidence["crashes"] == 2 and f.steps == (2, 3) and f.evidence["layers"] == 2


def test_dead_activations_only_for_rectified_layers_and_graded() -> None:
    near = np.tile([0.97, 0.85, 0.3], (8, 1))
    (f,) = li.diagnose(synthetic(np.ones((8, 3)), near))
    assert f.kind == "dead_activations" and f.severity == "error" and f.layer == "0, 1"
    assert li.diagnose(synthetic(np.ones((8, 3)), near, rectified=False)) == []


def test_saturation_at_the_cap() -> None:
    t = synthetic(np.ones((8, 3)), maxv=5.0)
    t.hist[:, :, 20] = 300  # the bin holding 5.0, the cap
    (f,) = li.diagnose(t)
    assert f.kind == "saturation" and f.evidence["maxv"] == 5.0 and f.evidence["share"] > 0.2


def test_non_finite_names_the_first_layer_and_step_and_silences_the_rest() -> None:
    t = synthetic(np.ones((8, 3)), np.full((8, 3), 0.99))
    t.sums[5:, 1] = np.nan
    t.sums[6:, 0] = np.inf
    (f,) = li.diagnose(t)
    assert (f.kind, f.layer, f.steps, f.severity) == ("non_finite", "1", (5, 5), "error")
    assert f.to_dict()["steps"] == [5, 5]


def test_nan_activations_in_a_real_model_are_found() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)
    ).train()
    with li.watch(model) as w:
        for i in range(4):
            model(torch.randn(8, 3) * (float("nan") if i == 2 else 1))
    (f,) = li.diagnose(w.telemetry)
    assert (f.kind, f.layer, f.steps) == ("non_finite", "0", (2, 2))
