"""watch_rate: which steps `watch` records, and `every="auto"`'s choice of a rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lookinside as li
from lookinside import watcher as watcher_module
from lookinside.watch_rate import CYCLE, DENSE, PROBE, RecordingRate


def choose(rate: RecordingRate, recorded_s: float, plain_s: float, start: int = 0) -> list[int]:
    """Open steps on a clock where a recorded step takes `recorded_s` and another `plain_s`
    (the step after a recorded one files it: that costs nothing here); the steps recorded."""
    now, kept = 0.0, []
    for step in range(start, start + DENSE + PROBE + 1):
        if rate.records(step, 1, now):
            kept.append(step)
            now += recorded_s
        else:
            now += plain_s
    return kept


@pytest.mark.parametrize(("recorded_s", "interval"), [(1.0, 1), (1.04, 1), (1.1, 2), (3.0, 64)])
def test_auto_records_the_start_in_full_then_chooses_the_sparsest_rate_needed(
    recorded_s: float, interval: int
) -> None:
    """A recorded step costing `recorded_s - 1` of a plain step: 5 % of budget at every
    step needs no thinning; 10 % needs every other step; 200 % needs 1 in 64 (2/64 < 5 %)."""
    rate = RecordingRate("auto")
    kept = choose(rate, recorded_s, 1.0)
    assert kept[:DENSE] == list(range(DENSE))
    assert kept[DENSE : DENSE + PROBE // CYCLE] == list(range(DENSE, DENSE + PROBE, CYCLE))
    assert rate.interval == interval and rate.every == interval and not rate.deciding
    assert rate.cost == pytest.approx(recorded_s - 1.0)
    assert rate.facts() == {"rate": "auto", "chosen_at": DENSE + PROBE, "budget": 0.05,
                            "recording_cost": pytest.approx(recorded_s - 1.0)}  # fmt: skip
    later = [s for s in range(200, 400) if rate.records(s, 1, 0.0)]
    assert later == [s for s in range(200, 400) if s % interval == 0]
    assert [s for s in range(200, 400) if rate.records(s, 2, 0.0)] == later[::2]  # thinned


def test_a_slow_step_in_the_probe_is_not_taken_for_the_cost_of_recording() -> None:
    """An epoch's end (validation) inside the probe makes one step very long: left out."""
    rate = RecordingRate("auto")
    now = 0.0
    for step in range(DENSE + PROBE + 1):
        rate.records(step, 1, now)
        now += 1.0 + (50.0 if step == DENSE + 9 else 0.0)
    assert rate.interval == 1 and rate.cost == 0.0


def test_a_budget_and_a_resumed_start() -> None:
    rate = RecordingRate("auto", budget=0.5, first_step=1000)  # counts from its first step
    kept = choose(rate, 3.0, 1.0, start=1000)
    assert kept[:DENSE] == list(range(1000, 1000 + DENSE)) and rate.interval == 4  # 2/4 ≤ 0.5


def test_a_fixed_rate_and_bad_values() -> None:
    rate = RecordingRate(3)
    assert [s for s in range(10) if rate.records(s, 1, 0.0)] == [0, 3, 6, 9]
    assert rate.every == 3 and rate.facts() == {}  # meta's `every` says it
    for bad in (0, -1, "sometimes", 2.5):
        with pytest.raises(ValueError, match="every must be"):
            RecordingRate(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="budget"):
        RecordingRate("auto", budget=0.0)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).train()


class FakeClock:
    """`time` for the watcher: a recorded step takes 3 s, another 1 s (1 in 64 is chosen)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_watch_auto_detaches_the_layer_hooks_between_recorded_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(watcher_module, "time", clock)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    hooked: list[bool] = []  # whether the first layer had a hook, at each step
    model[0].register_forward_pre_hook(lambda m, a: hooked.append(bool(m._forward_hooks)))
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    with li.watch(model) as w:
        for _ in range(DENSE + PROBE + 200):
            loss = nn.functional.cross_entropy(model(x), y)
            w.record_loss(loss)
            loss.backward()
            opt.step()
            opt.zero_grad()
            clock.now += 3.0 if hooked[-1] else 1.0
    t = w.telemetry
    assert w.every == 64 and t.meta["every"] == 64 and t.meta["rate"] == "auto"
    assert t.meta["recording_cost"] == pytest.approx(2.0)
    chosen = range(DENSE + PROBE, DENSE + PROBE + 200)
    steps = [
        *range(DENSE),
        *range(DENSE, DENSE + PROBE, CYCLE),
        *(s for s in chosen if s % 64 == 0),
    ]
    assert t.steps.tolist() == steps
    assert [i for i, h in enumerate(hooked) if h] == steps  # hooked at recorded steps only
    assert np.isfinite(t["0"].mean).all() and np.isfinite(t.losses).all()
    assert [len(m._forward_hooks) for m in model] == [0, 0, 0]  # removed by the context's end


def test_a_recorded_loss_is_the_mean_since_the_last_recorded_step() -> None:
    model = mlp()
    with li.watch(model, every=4) as w:
        for i in range(9):
            model(torch.randn(2, 4))  # no optimizer: each training forward is a step
            w.record_loss(torch.tensor(float(i)))
    # steps 0, 4, 8: 0; the mean of 1-4; the mean of 5-8
    assert w.telemetry.losses.tolist() == [0.0, 2.5, 6.5]


def test_a_non_finite_loss_between_recorded_steps_is_not_lost() -> None:
    model = mlp()
    with li.watch(model, every=4) as w:
        for i in range(6):
            model(torch.randn(2, 4))
            w.record_loss(torch.tensor(float("nan") if i == 2 else 1.0))
    assert w.telemetry.losses.tolist()[:2] == [1.0, float("inf")]  # steps 0 and 4


def test_resuming_a_record_still_choosing_chooses_again() -> None:
    model = mlp()
    with li.watch(model) as w:
        for _ in range(3):
            model(torch.randn(2, 4))
    assert w.resume_every == "auto" and w.telemetry.meta["rate"] == "auto, not chosen yet"
    with li.watch(model, every=w.resume_every, first_step=3) as again:
        for _ in range(2):
            model(torch.randn(2, 4))
    assert again.telemetry.steps.tolist() == [3, 4]
    fixed = li.watch(model, every=8)
    assert fixed.resume_every == 8
    fixed.remove()


def test_detailed_steps_are_priced_apart() -> None:
    """With details at one recorded step in 4, the probe's detailed cycles cost more: the
    price is the mean over a detail cycle, not the median cycle (a light one)."""
    rate = RecordingRate("auto", detail=4)
    now, detailed = 0.0, 0
    for step in range(DENSE + PROBE + 1):
        recorded = rate.records(step, 1, now)
        heavy = recorded and detailed % 4 == 0
        detailed += recorded
        now += 1.0 + (0.9 if heavy else 0.02 if recorded else 0.0)
    assert rate.cost == pytest.approx((3 * 0.02 + 0.9) / 4)  # not 0.02
    assert rate.interval == 8  # 0.24 / 8 ≤ 0.05


def test_every_takes_numpy_ints_not_bools() -> None:
    assert RecordingRate(np.int64(4)).interval == 4
    with pytest.raises(ValueError, match="every must be"):
        RecordingRate(True)


def test_losses_of_micro_batches_and_unrecorded_steps_fold_into_the_recorded_step() -> None:
    """Two micro-batches, then an optimizer step; every 2nd step recorded. Until the first
    optimizer step each forward is a step (0 and 1); then each pair is one (2, 3, 4).
    Step 2's loss is the mean of step 1's and its two micro-batches', step 4's of step 3's
    two and its own two; an evaluation loss between them is not training: left out."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    values = iter(range(100))
    with li.watch(model, every=2) as w:
        for _ in range(4):
            for _ in range(2):
                model(torch.randn(2, 4))
                w.record_loss(torch.tensor(float(next(values))))
            opt.step()
            with torch.no_grad():
                model.eval()(torch.randn(2, 4))
                w.record_loss(torch.tensor(1000.0))
            model.train()
    assert w.telemetry.steps.tolist() == [0, 2, 4]
    assert w.telemetry.losses.tolist() == [0.0, 2.0, 5.5]  # (1 + 2 + 3) / 3; (4 + ... + 7) / 4


def test_a_non_finite_loss_after_the_last_recorded_step_is_filed_when_read() -> None:
    """The run stops on a NaN loss before another step is recorded: the record gets a step
    of its own for it (no layer measured), and the diagnosis says the loss went."""
    model = mlp()
    with li.watch(model, every=8) as w:
        for i in range(5):
            model(torch.randn(2, 4))
            w.record_loss(torch.tensor(float("nan") if i == 4 else 1.0))
    t = w.telemetry
    assert t.steps.tolist() == [0, 4] and t.losses.tolist() == [1.0, float("inf")]
    assert np.isnan(t["0"].field("n")[1])  # no layer measured at the filed step
    (f,) = [f for f in li.diagnose(t) if f.kind == "non_finite"]
    assert f.layer == "loss" and "by step 4 (recorded after 0)" in f.message
    finite = li.watch(model, every=8)
    for _ in range(3):
        model(torch.randn(2, 4))
        finite.record_loss(torch.tensor(1.0))
    finite.remove()
    assert finite.telemetry.steps.tolist() == [0]  # a finite tail waits, and is dropped


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_hooks_stay_on_a_model_with_a_compiled_block() -> None:
    """`block.compile()` inside an eager model: its graph holds the hooks of the layers in
    it, so the watcher keeps them attached from the first step it would detach them."""
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 3)).train()
    model[0].compile(backend="eager")
    with li.watch(model, every=2) as w:
        for _ in range(4):
            model(torch.randn(2, 4))
        assert w._layer_hooks.pinned
    plain = mlp()
    with li.watch(plain, every=2) as w:
        for _ in range(2):
            plain(torch.randn(2, 4))
        assert not w._layer_hooks.pinned and not w._layer_hooks.attached
