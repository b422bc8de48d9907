"""The rules on the loss curve, each at the edge of its threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lookinside as li
from lookinside.diagnosis.curves import GIVE_BACK, curve

from .synthetic import spec, telemetry

STEPS = 100


def run(losses: np.ndarray, rate: float | None = 1e-3, **meta: object) -> list[li.Finding]:
    """The curve findings of a run with these losses, whose one layer's parameter norm
    changes by `rate` of itself per step (None: no norm recorded)."""
    norms = np.full(STEPS, np.nan) if rate is None else np.cumprod(np.full(STEPS, 1 + rate))
    t = telemetry([(spec("a"), {"pnorm": norms})], STEPS, losses, meta)
    return [f for f in li.diagnose(t) if f.kind != "not_recorded"]


def falling(start: float, end: float) -> np.ndarray:
    return np.linspace(start, end, STEPS)


def test_the_measures_of_a_curve() -> None:
    c = curve(np.r_[2.0, np.full(49, 1.0), np.full(50, 1.5)])
    assert c is not None
    assert (c.start, c.best, c.end, c.steps) == (2.0, 1.0, 1.5, 100)
    assert c.given_back == pytest.approx(0.5) and c.drop == pytest.approx(0.25)
    assert curve(np.full(19, 1.0)) is None  # too short to say anything


def test_a_healthy_falling_loss_says_nothing() -> None:
    assert run(falling(2.3, 0.3)) == []


def test_no_learning_when_the_loss_stays_and_the_weights_barely_move() -> None:
    (f,) = run(falling(1.0, 0.96), rate=1e-7)
    assert f.kind == "no_learning" and "barely moved" in f.message
    assert "raise the learning rate" in f.advice
    assert run(falling(1.0, 0.94), rate=1e-7) == []  # it fell 6 %


def test_stuck_at_chance_when_the_weights_move() -> None:
    (f,) = run(falling(2.31, 2.30), rate=1e-3)
    assert f.kind == "chance" and "ln(10) = 2.3" in f.message and "weights move" in f.message
    (g,) = run(falling(1.5, 1.49), rate=1e-3)  # flat, far from ln(10)
    assert g.kind == "no_learning" and "does not fall, while the weights move" in g.message
    assert [r.name for r in g.remedies] == ["find_lr"]  # a plateau: the lr is wrong, but how?
    (h,) = run(falling(2.31, 2.30), rate=None)  # no norms: nothing said of the weights
    assert h.kind == "chance" and "weights" not in h.message


def test_chance_reads_the_validation_loss_when_there_is_one() -> None:
    norms = np.cumprod(np.full(STEPS, 1.001))
    t = telemetry([(spec("a"), {"pnorm": norms})], STEPS, falling(1.5, 1.49))
    epochs = [{"train_loss": 1.5, "valid_loss": 2.31}]
    assert [f.kind for f in li.diagnose(t, epochs) if f.kind != "not_recorded"] == ["chance"]


def test_chance_needs_a_cross_entropy() -> None:
    (f,) = run(falling(2.31, 2.30), loss="mse")
    assert f.kind == "no_learning"


@pytest.mark.parametrize(("spike", "found"), [(1.25, True), (1.15, False)])
def test_oscillation_climbing_above_the_start(spike: float, found: bool) -> None:
    losses = falling(2.0, 0.5)
    losses[1:11] = 2.0 * spike  # a jump above where it started, before any progress
    assert ([f.kind for f in run(losses)] == ["oscillation"]) is found


def test_a_noisy_loss_after_a_lucky_first_batch_is_no_oscillation() -> None:
    """A regression's batch losses at the start range over ±1: a first batch at 2.15 below
    the typical 2.9 says nothing."""
    rng = np.random.default_rng(0)
    losses = falling(2.9, 0.5) + rng.normal(0, 0.6, STEPS)
    losses[0] = 2.15
    assert run(losses) == []
    losses[5:15] += 3.0  # a rise far above the noise is one
    assert [f.kind for f in run(losses)] == ["oscillation"]


def test_no_chance_level_when_the_predictions_beat_a_guess() -> None:
    norms = np.cumprod(np.full(STEPS, 1.001))
    t = telemetry([(spec("a"), {"pnorm": norms})], STEPS, falling(2.31, 2.30))
    found = li.diagnose(t, [{"train_loss": 2.3, "valid_loss": 2.25, "valid_accuracy": 0.29}])
    assert [f.kind for f in found if f.kind != "not_recorded"] == ["no_learning"]


@pytest.mark.parametrize(("back", "found"), [(0.3, True), (0.2, False)])
def test_oscillation_giving_back_progress(back: float, found: bool) -> None:
    losses = np.r_[np.linspace(2.0, 1.0, 50), np.full(50, 1.0 + back)]  # best 1, end 1 + back
    assert ([f.kind for f in run(losses)] == ["oscillation"]) is found


def test_a_spike_that_gives_back_the_progress_made_so_far() -> None:
    losses = falling(2.0, 0.01)
    losses[60:66] = 1.6  # from about 0.8 back up, below the start: most of the progress so far
    (f,) = run(losses)
    assert f.kind == "oscillation" and f.evidence["given_back"] >= 0.25
    assert f.evidence["excursion"] < 1.0


def test_small_progress_given_back_is_noise() -> None:
    losses = np.r_[np.linspace(2.0, 1.95, 50), np.full(50, 1.99)]  # progress 2.5 %
    assert "oscillation" not in [f.kind for f in run(losses)]


def epochs(valid: list[float], train: list[float]) -> list[dict[str, float]]:
    return [{"train_loss": t, "valid_loss": v} for t, v in zip(train, valid, strict=True)]


@pytest.mark.parametrize(
    ("valid", "train", "found"),
    [
        ([1.0, 0.8, 0.7, 0.78], [0.9, 0.5, 0.3, 0.2], True),  # +11 %, 3.9x the train loss
        ([1.0, 0.8, 0.7, 0.76], [0.9, 0.5, 0.3, 0.2], False),  # +9 %
        ([1.0, 0.8, 0.7, 0.78], [0.9, 0.5, 0.4, 0.4], False),  # less than 2x the train loss
        ([0.8, 0.7, 0.78], [0.5, 0.3, 0.2], True),
        ([0.7, 0.78], [0.3, 0.2], False),  # two epochs say nothing
    ],
)
def test_overfitting(valid: list[float], train: list[float], found: bool) -> None:
    t = telemetry([(spec("a"), {})], STEPS, falling(2.0, 0.2))
    kinds = [f.kind for f in li.diagnose(t, epochs(valid, train))]
    assert ("overfitting" in kinds) is found
    if found:
        (f,) = [f for f in li.diagnose(t, epochs(valid, train)) if f.kind == "overfitting"]
        assert f.evidence["best_epoch"] == 2 - (len(valid) == 3) and not math.isnan(
            f.evidence["train"]
        )


def test_a_record_that_grows_sparser_is_smoothed_over_steps_not_records() -> None:
    """A 161-step record that grows sparser: 64 steps in full, then one in 4, then one in 32,
    each recorded loss the mean of its steps' (so quieter). Smoothed over recorded losses
    (4 of them), the noisy dense start reads as a loss giving back its progress in some
    runs; smoothed over steps (8 of them, as an every-step record is), never."""
    steps = np.r_[np.arange(64), np.arange(64, 132, 4), 160]
    averaged = np.r_[np.ones(64), np.full(17, 4), 32]  # steps in each recorded loss
    trend = 0.35 + 0.3 * np.exp(-steps / 30)
    as_even, by_steps = 0, 0
    for seed in range(200):
        noise = np.random.default_rng(seed).normal(0, 0.15, len(steps)) / np.sqrt(averaged)
        losses = trend * (1 + noise)
        as_even += curve(losses).given_back >= GIVE_BACK  # type: ignore[union-attr]
        by_steps += curve(losses, steps).given_back >= GIVE_BACK  # type: ignore[union-attr]
    assert as_even >= 4 and by_steps == 0
    evenly = np.arange(100) * 5  # an even record: its steps change nothing
    losses = falling(2.0, 1.0) + np.random.default_rng(0).normal(0, 0.05, 100)
    assert curve(losses, evenly) == curve(losses)


def test_the_noise_of_a_sparse_record_is_a_steps_noise() -> None:
    """3000 steps, recorded in full for 128, then one in 32, each of those the mean of 32
    steps' losses (√32 times quieter): the noise the rules compare against stays a step's
    (15 % here; the smoothing residual reads it a little above), not a sixth of it."""
    tail = np.arange(192, 3000, 32)
    steps = np.r_[np.arange(128), np.arange(128, 192, 4), tail]
    averaged = np.r_[np.ones(128), np.full(16, 4), np.full(len(tail), 32)]
    noise = np.random.default_rng(0).normal(0, 0.15, len(steps)) / np.sqrt(averaged)
    c = curve((0.2 + 2 * np.exp(-steps / 300)) * (1 + noise), steps)
    assert c is not None and 0.1 < c.noise < 0.3
