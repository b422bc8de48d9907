"""watch: statistics equal a direct computation, in a hand-written loop, on any output shape,
without reading the device on the host; bounded memory; what it could not record is said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import lookinside as li
from lookinside.telemetry import Telemetry
from lookinside.zoo.models import DictOutputNet, RNNClassifier

from .host_reads import HostReads


def relu_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


def train(model: nn.Module, xs: list[torch.Tensor], **options: Any) -> li.Watcher:
    """A hand-written SGD loop over `xs` (loss: the outputs' mean square), watched."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with li.watch(model, **options) as w:
        for x in xs:
            loss = model(x).pow(2).mean()
            w.record_loss(loss)
            loss.backward()
            opt.step()
            opt.zero_grad()
    return w


def test_statistics_equal_a_direct_computation() -> None:
    model = relu_net().train()
    xs = [torch.randn(32, 6) * (i + 1) for i in range(3)]
    reference = relu_net()  # the same weights, stepped by hand below
    w = train(model, xs, hist_sample=None, detail=1)
    t = w.telemetry
    assert [s.name for s in t.specs] == ["input", "0", "1", "2"]
    assert [s.role for s in t.specs] == ["input", "layer", "layer", "output"]
    assert t.steps.tolist() == [0, 1, 2] and t.meta["loss"] == "MeanBackward0"
    opt = torch.optim.SGD(reference.parameters(), lr=0.01)
    for i, x in enumerate(xs):
        h = reference[1](reference[0](x))  # the ReLU's output
        h.retain_grad()
        loss = reference[2](h).pow(2).mean()
        loss.backward()
        relu, d = t["1"], h.detach()
        assert relu.mean[i] == pytest.approx(d.mean().item(), rel=1e-5)
        assert relu.std[i] == pytest.approx(d.std(correction=0).item(), rel=1e-4)
        assert relu.max[i] == d.max().item() and relu.min[i] == 0.0
        lo, hi = relu.spec.lo, relu.spec.hi  # fitted at the first step: from the floor, 0
        assert lo == 0.0 and hi > 0.0
        inside = d[d < hi]
        np.testing.assert_array_equal(relu.hist[i], torch.histc(inside, 40, lo, hi).numpy())
        assert relu.clipped[1][i] == pytest.approx((d >= hi).float().mean().item())
        floor = d <= torch.lerp(d.amin(0), d.amax(0), 0.01)  # within 1 % of each unit's range
        assert relu.near_zero[i] == pytest.approx(floor.float().mean().item())
        assert relu.dead[i] == ((d.amax(0) == d.amin(0)).float().mean().item())
        assert h.grad is not None
        assert relu.grad_rms[i] == pytest.approx(h.grad.pow(2).mean().sqrt().item(), rel=1e-5)
        assert relu.zero_grad[i] == (h.grad == 0).float().mean().item()
        assert t.losses[i] == pytest.approx(loss.item())
        opt.step()
        opt.zero_grad()
        norm = torch.cat([p.detach().flatten() for p in reference[0].parameters()]).norm()
        assert t["0"].param_norm[i] == pytest.approx(norm.item(), rel=1e-5)  # after the step
    assert np.isnan(t["1"].param_norm).all()  # a ReLU has no parameters


def test_only_training_forwards_with_gradients_are_steps() -> None:
    model = relu_net()
    with li.watch(model, every=2) as w:
        for _ in range(5):
            model.train()(torch.randn(4, 6))
            model.eval()(torch.randn(4, 6))
            with torch.no_grad():
                model.train()(torch.randn(4, 6))  # a hand-written validation, in train mode
    assert w.telemetry.steps.tolist() == [0, 2, 4]


def test_details_every_few_recorded_steps_sums_at_every_one() -> None:
    w = train(relu_net().train(), [torch.randn(16, 6) for _ in range(9)], detail=4)
    relu = w.telemetry["1"]
    assert np.isfinite(relu.std).all() and np.isfinite(relu.grad_mean).all()
    assert not relu.grad_non_finite.any()  # read from Σg, at every step
    assert np.flatnonzero(np.isfinite(relu.near_zero)).tolist() == [0, 4, 8]
    assert np.flatnonzero(np.isfinite(relu.grad_rms)).tolist() == [0, 4, 8]
    assert np.flatnonzero(np.isfinite(relu.hist).all(1)).tolist() == [0, 4, 8]


def test_the_histogram_sample_is_whole_items() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()).train()
    with li.watch(model, hist_sample=300) as w:
        model(torch.randn(16, 1, 5, 5))  # 100 values per item: 3 items are sampled
    conv = w.telemetry["0"]
    assert conv.field("n")[0] == 1600 and conv.field("sample")[0] == 300
    assert conv.field("units")[0] == 4 and conv.spec.unit_dim == 1
    assert np.nansum(conv.hist[0]) <= 300


def test_memory_is_bounded_over_twenty_thousand_steps() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU()).train()
    x = torch.randn(1, 2)
    with li.watch(model, every=1, max_steps=500, chunk=64, grads=False) as w:
        for _ in range(20_000):
            model(x)
    t = w.telemetry
    assert len(t.steps) <= 500 + 64
    assert t.steps[0] == 0 and t.steps[-1] > 19_000
    assert np.all(np.diff(t.steps) > 0) and w.every == 64


def test_tuples_lists_and_dicts_are_recorded_by_their_place() -> None:
    model = RNNClassifier(10, 3).train()
    w = train(model, [torch.randint(0, 10, (8, 5)) for _ in range(2)])
    t = w.telemetry
    assert [s.name for s in t.specs] == ["emb", "rnn[0]", "rnn[1][0]", "rnn[1][1]", "fc"]
    assert np.isfinite(t["rnn[1][1]"].std).all()  # the cell state
    body = DictOutputNet([12, 8, 3]).train()
    with li.watch(body, modules=[body.body]) as w:
        body(torch.randn(4, 12))["logits"].sum().backward()
    t = w.telemetry
    assert [s.name for s in t.specs] == ["input", "body[hidden]", "body[logits]"]
    assert {s.role for s in t.specs[1:]} == {"output"}  # the model returns both


def test_what_cannot_be_recorded_is_said_never_taken_for_health() -> None:
    class Labels(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.argmax(1)  # integers: nothing to record

    model = nn.Sequential(nn.Linear(3, 3), Labels()).train()
    with li.watch(model) as w:
        model(torch.randn(4, 3))
    t = w.telemetry
    assert t.meta["not_recorded"] == {
        "1": "its output is a torch.int64 tensor",
        "the model's output": "its output is a torch.int64 tensor",
    }
    said = [f.message for f in li.diagnose(t) if f.kind == "not_recorded"]
    assert said[0].startswith("output not recorded for 1: its output is a torch.int64 tensor")


def test_parameters_the_optimizer_does_not_hold_are_named() -> None:
    model = relu_net().train()
    opt = torch.optim.SGD(model[2].parameters(), lr=0.1)  # the first layer left out
    with li.watch(model) as w:
        for _ in range(2):
            model(torch.randn(4, 6)).sum().backward()
            opt.step()
            opt.zero_grad()
    assert w.telemetry.meta["not_in_optimizer"] == ["0"] and w.telemetry.meta["lr"] == 0.1
    (f,) = [f for f in li.diagnose(w.telemetry) if f.kind == "not_updated"]
    assert f.layer == "0" and f.severity == "error"


def test_the_loss_function_is_read_from_the_graph() -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        out = model(torch.randn(4, 6))
        w.record_loss(nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3])))
    assert w.telemetry.meta["loss"] == "cross_entropy" and w.telemetry.meta["outputs"] == 4


def test_a_nan_loss_is_kept_apart_from_a_step_without_one() -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        for loss in (1.0, float("nan"), None):
            out = model(torch.randn(4, 6))
            if loss is not None:
                w.record_loss(out.sum() * 0 + loss)
    losses = w.telemetry.losses
    assert losses[0] == 1.0 and losses[1] == np.inf and np.isnan(losses[2])


def test_no_host_read_in_the_training_loop() -> None:
    model = relu_net().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with li.watch(model, detail=1, chunk=4) as w, HostReads() as reads:
        for _ in range(6):  # steps with every detail, and a chunk moved to the host
            loss = model(torch.randn(8, 6)).pow(2).mean()
            w.record_loss(loss)
            loss.backward()
            opt.step()
            opt.zero_grad()
    assert reads.count == 0
    assert len(w.telemetry.steps) == 6


def test_hooks_are_gone_after_the_with_block_and_telemetry_survives(tmp_path: Path) -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        model(torch.randn(4, 6))
    assert all(len(m._forward_hooks) == 0 for m in model) and not model._forward_pre_hooks
    assert not model._forward_hooks
    model(torch.randn(4, 6))
    t = w.telemetry
    assert len(t.steps) == 1
    t.save(tmp_path / "t.npz")
    back = Telemetry.load(tmp_path / "t.npz")
    assert back.specs == t.specs and back.meta == t.meta
    np.testing.assert_array_equal(back.values, t.values)


def test_report_prints_the_diagnosis(capsys: pytest.CaptureFixture[str]) -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        model(torch.randn(4, 6))
    findings = w.report()
    assert capsys.readouterr().out.startswith("diagnosis: 1 finding(s)")
    assert [f.kind for f in findings] == ["not_recorded"]  # no loss was given


def test_evaluation_forwards_do_not_touch_the_last_training_step() -> None:
    model = relu_net()
    with li.watch(model) as w:
        model.train()(torch.randn(16, 6))
        model.eval()(torch.randn(16, 6) * 100)  # validation data of another scale
    assert w.telemetry["1"].std[0] < 10


def test_notebook_representation() -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        model(torch.randn(4, 6))
    html = w.telemetry._repr_html_()
    assert "1 recorded steps" in html and html.count("<tr>") == 5


NOTED = [
    (nn.BatchNorm1d(16), {"items": 2, "layer": "BatchNorm1d"}),
    (li.nn.BatchNorm(16), {"items": 2, "layer": "BatchNorm"}),
    (li.nn.RunningBatchNorm(16), None),  # running statistics: any batch will do
]


@pytest.mark.parametrize(("norm", "noted"), NOTED)
def test_the_items_a_batch_norm_normalises_over_are_noted_in_training(
    norm: nn.Module, noted: dict[str, Any] | None
) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), norm, nn.ReLU(), nn.Linear(16, 4))
    with li.watch(model) as w:
        model.eval()
        model(torch.randn(5, 6))  # an evaluation forward: its batch is not training's
        model.train()
        model(torch.randn(2, 6)).pow(2).mean().backward()
    assert w.telemetry.meta.get("norm_batch") == noted


class Siamese(nn.Module):
    """One encoder applied to both inputs of a pair (weights shared), then a distance."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (self.encoder(a) - self.encoder(b)).pow(2).sum(1)


def test_a_module_called_twice_in_a_step_records_both_calls_added_up() -> None:
    model = Siamese()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    a, b = torch.randn(8, 6), torch.randn(8, 6) * 3
    with li.watch(model, modules=[model.encoder[0], model.encoder[2]], detail=1) as w:
        for _ in range(3):
            model(a, b).mean().backward()
            opt.step()
            opt.zero_grad()
    first = w.telemetry["encoder.0"]
    assert w.telemetry.steps.tolist() == [0, 1, 2] and first.field("n")[0] == 2 * 8 * 16
    assert first.field("units")[0] == 2 * 16  # each call's units, added
    assert first.field("gn")[0] == 2 * 8 * 16  # and each call's gradient
    assert first.spec.calls == 2 and w.telemetry["encoder.2"].spec.calls == 2
    fresh = Siamese()
    with li.watch(fresh, modules=[fresh.encoder[0]]) as w2:
        fresh(a, b)
    one = w2.telemetry["encoder.0"]
    with torch.no_grad():
        both = torch.cat([fresh.encoder[0](a), fresh.encoder[0](b)])
    assert one.mean[0] == pytest.approx(both.mean().item(), rel=1e-5)
    assert one.std[0] == pytest.approx(both.std(unbiased=False).item(), rel=1e-4)
    assert one.max[0] == pytest.approx(both.max().item())


def test_one_optimizer_step_is_one_step_whatever_the_forwards() -> None:
    """Gradient accumulation: two forwards a step; the first step (before any optimizer step
    is seen) counts each forward, as a loop without an optimizer would."""
    model = relu_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with li.watch(model) as w:
        for _ in range(4):
            for _ in range(2):
                model(torch.randn(4, 6)).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
    assert w.telemetry.steps.tolist() == [0, 1, 2, 3, 4]
    assert w.telemetry["0"].field("n").tolist() == [64, 64, 128, 128, 128]


def test_two_forwards_before_the_first_optimizer_step_keep_their_gradients_apart() -> None:
    """Before any optimizer step each forward is a step; a pair's backward comes after the
    first of them was filed: its gradient is not measured there (NaN, not "never came"), and
    not added to the second's."""
    model = relu_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    a, b = torch.randn(8, 6), torch.randn(8, 6)
    with li.watch(model) as w:
        for _ in range(2):
            (model(a) - model(b)).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
    layer = w.telemetry["0"]
    assert w.telemetry.steps.tolist() == [0, 1, 2]
    assert np.isnan(layer.field("gn")[0]) and np.isnan(layer.field("gsum")[0])
    assert layer.field("gn")[1] == layer.field("n")[1] == 8 * 16
    assert layer.field("gn")[2] == layer.field("n")[2] == 2 * 8 * 16


def test_given_histogram_ranges_are_kept_instead_of_fitted() -> None:
    """A resumed run's watcher gets its record's ranges, so that the histograms join."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(32, 4) * 3
    fitted, given = li.watch(model), li.watch(model, ranges={"0": (-1.0, 5.0)})
    model(x).sum().backward()
    fitted.remove()
    given.remove()
    spec = {s.name: s for s in given.telemetry.specs}
    assert (spec["0"].lo, spec["0"].hi) == (-1.0, 5.0)
    assert {s.name: (s.lo, s.hi) for s in fitted.telemetry.specs}["0"] != (-1.0, 5.0)
    assert (spec["2"].lo, spec["2"].hi) == next((s.lo, s.hi) for s in fitted.telemetry.specs
                                                if s.name == "2")  # others: fitted  # fmt: skip
