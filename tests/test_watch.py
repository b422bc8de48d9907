"""watch: statistics equal a direct computation, bounded memory, any model shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import lookinside as li
from lookinside.nn import GeneralRelu
from lookinside.telemetry import Telemetry
from lookinside.watcher import layer_specs


def relu_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


def test_statistics_equal_a_direct_computation() -> None:
    model = relu_net().train()
    xs = [torch.randn(32, 6) * (i + 1) for i in range(3)]
    with li.watch(model, hist_sample=None) as w:
        for x in xs:
            model(x)
    t = w.telemetry
    assert t.steps.tolist() == [0, 1, 2] and len(t) == 3
    for i, x in enumerate(xs):
        h = model[1](model[0](x)).detach()  # the ReLU's output
        layer = t[1]
        assert layer.mean[i] == pytest.approx(h.mean().item(), rel=1e-5)
        assert layer.std[i] == pytest.approx(h.std(correction=0).item(), rel=1e-4)
        np.testing.assert_array_equal(layer.hist[i], torch.histc(h, 40, 0, 10).numpy())
        assert layer.near_zero[i] == pytest.approx(((h >= 0) & (h < 0.5)).float().mean().item())
        out = model(x).detach()
        assert t[2].mean[i] == pytest.approx(out.mean().item(), rel=1e-4, abs=1e-6)


def test_only_training_forwards_are_steps_and_every_skips() -> None:
    model = relu_net()
    with li.watch(model, every=2) as w:
        for _ in range(5):
            model.train()(torch.randn(4, 6))
            model.eval()(torch.randn(4, 6))
    assert w.telemetry.steps.tolist() == [0, 2, 4]


def test_histogram_sample_is_capped_at_whole_items() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()).train()
    with li.watch(model, hist_sample=300) as w:
        model(torch.randn(16, 1, 5, 5))  # 100 values per item: 3 items are sampled
    t = w.telemetry
    assert t.counts[0, 1] == 1600 and t.sample_counts[0, 1] == 300
    assert np.nansum(t.hist[0, 1]) <= 300


def test_memory_is_bounded_over_twenty_thousand_steps() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU()).train()
    x = torch.randn(1, 2)
    with li.watch(model, max_steps=500, chunk=64) as w:
        for _ in range(20_000):
            model(x)
    t = w.telemetry
    assert len(t.steps) <= 500 + 64
    assert t.steps[0] == 0 and t.steps[-1] > 19_000
    assert np.all(np.diff(t.steps) > 0) and w.every == 64


class Branchy(nn.Module):
    """Not a Sequential: two branches, and a child that returns a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.right = nn.Linear(4, 3), nn.Linear(4, 3)
        self.rnn = nn.GRU(3, 5, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.left(x)) + self.right(x)
        out, _ = self.rnn(h[:, None, :])  # the GRU returns (output, hidden)
        return out[:, 0]


def test_watch_on_a_model_with_branches_and_tuple_outputs() -> None:
    model = Branchy().train()
    with li.watch(model, grads=True, params=True) as w:
        for _ in range(3):
            model(torch.randn(8, 4)).sum().backward()
    t = w.telemetry
    assert [s.name for s in t.specs] == ["left", "right", "rnn"]
    gru = t["rnn"]
    assert np.isfinite(gru.mean).all() and np.isfinite(gru.grad_std).all()  # type: ignore[arg-type]
    assert np.isfinite(t["left"].param_norm).all()  # type: ignore[arg-type]


def test_gradient_and_parameter_statistics_equal_a_direct_computation() -> None:
    model = relu_net().train()
    x = torch.randn(16, 6)
    with li.watch(model, grads=True, params=True) as w:
        out = model(x)
        out.retain_grad()
        (out**2).sum().backward()
    t = w.telemetry
    g = out.grad
    assert g is not None
    assert t[2].grad_mean[0] == pytest.approx(g.mean().item(), rel=1e-5)  # type: ignore[index]
    assert t[2].grad_std[0] == pytest.approx(g.std(correction=0).item(), rel=1e-4)  # type: ignore[index]
    norm = torch.cat([p.flatten() for p in model[0].parameters()]).norm()
    assert t[0].param_norm[0] == pytest.approx(norm.item(), rel=1e-5)  # type: ignore[index]
    assert np.isnan(t[1].param_norm[0])  # type: ignore[index]  # a ReLU has no parameters


def test_histogram_ranges_follow_the_activation() -> None:
    specs = layer_specs(
        [
            ("a", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())),
            ("pool", nn.AdaptiveAvgPool2d(1)),
            ("b", nn.Sequential(nn.Linear(2, 2), GeneralRelu(0.1, 0.4, 6.0))),
            ("c", nn.Linear(2, 2)),
        ]
    )
    assert [(s.lo, s.hi, s.floor, s.rectified) for s in specs] == [
        (0.0, 10.0, 0.0, True),
        (0.0, 10.0, 0.0, True),
        (-7.4, 6.6, pytest.approx(-0.4), True),
        (-7.0, 7.0, None, False),
    ]
    assert specs[2].maxv == 6.0


def test_hooks_are_gone_after_the_with_block_and_telemetry_survives(tmp_path: Path) -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        model(torch.randn(4, 6))
    assert all(len(m._forward_hooks) == 0 for m in model) and not model._forward_pre_hooks
    model(torch.randn(4, 6))
    t = w.telemetry
    assert len(t.steps) == 1
    t.save(tmp_path / "t.npz")
    back = Telemetry.load(tmp_path / "t.npz")
    assert back.specs == t.specs
    np.testing.assert_array_equal(back.hist, t.hist)
    np.testing.assert_array_equal(back[1].near_zero, t[1].near_zero)


def test_loading_a_file_that_is_not_telemetry(tmp_path: Path) -> None:
    (tmp_path / "t.npz").write_bytes(b"not a zip")
    with pytest.raises(li.LookinsideError, match="not a telemetry file"):
        Telemetry.load(tmp_path / "t.npz")


def test_report_prints_the_diagnosis(capsys: pytest.CaptureFixture[str]) -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        model(torch.randn(4, 6))
    assert w.report() == [] or capsys.readouterr().out.startswith("diagnosis")


def test_notebook_representations() -> None:
    model = relu_net().train()
    with li.watch(model) as w:
        model(torch.randn(4, 6))
    html = w.telemetry._repr_html_()
    assert "1 recorded steps" in html and html.count("<tr>") == 4
    finding = li.Finding("dead_activations", "0", (0, 1), "warning", "a <b> message", {}, "advice")
    assert "a &lt;b&gt; message" in finding._repr_html_()


def test_evaluation_forwards_do_not_touch_the_last_training_step() -> None:
    model = relu_net()
    with li.watch(model) as w:
        model.train()(torch.randn(16, 6))
        model.eval()(torch.randn(16, 6) * 100)  # validation data of another scale
    assert w.telemetry[1].std[0] < 10
