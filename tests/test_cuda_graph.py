"""CudaGraph on the CPU, through a stand-in for `torch.cuda.CUDAGraph`.

The stand-in behaves as a graph does where it matters to the callback: capturing records the
step without changing the model or the optimizer; a replay runs the recorded step on the static
inputs with no callback event firing (and hooks of capture-aware callbacks writing to their
staging rows), refreshing the static outputs and gradients in place. Any read of a tensor on
the host inside the step (`.item()`, `float(t)`, a tensor used as a Python number), which a
real capture refuses, fails the stand-in too. Adam's `capturable=True` path is let onto the
CPU for these tests. So these tests check the callback's own logic: warm-up, static copies,
short batches, live hyper-parameters, events and exact telemetry. The real graph is checked on
a GPU by benchmarks/cuda_graph.py.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import lookinside as li
from lookinside.callbacks.cuda_graph import CaptureAware, GraphHypers
from lookinside.tensor_tree import tensors, tree_map

from .host_reads import without_host_reads


@pytest.fixture(autouse=True)
def _capturable_adam_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    adam = importlib.import_module("torch.optim.adam")  # the module, not the class
    monkeypatch.setattr(adam, "_get_capturable_supported_devices", lambda **_: ["cpu", "cuda"])


class PythonGraph:
    """`GraphBackend` on the CPU: see this module's docstring."""

    def __init__(self, learn: li.Learner, device: torch.device) -> None:
        self.learn = learn

    def warmup(self) -> AbstractContextManager[None]:
        return nullcontext()

    def capture(self, step: Callable[[], Sequence[Any]]) -> list[Any]:
        learn, opt = self.learn, self.learn.opt
        assert opt is not None
        model_state = {k: v.clone() for k, v in learn.model.state_dict().items()}
        opt_state = {p: {k: v.clone() for k, v in s.items()} for p, s in opt.state.items()}
        self.inputs = (learn.xb, learn.yb)  # the static tensors the step reads
        self.step = step
        self.outputs = tree_map(lambda t: t.detach().clone(), list(without_host_reads(step)))
        self.grads = [p.grad for p in learn.model.parameters()]
        learn.model.load_state_dict(model_state)  # copies in place: capture changed nothing
        for p, saved in opt_state.items():
            for k, v in saved.items():
                opt.state[p][k].copy_(v)
        return list(self.outputs)

    def replay(self) -> None:
        learn = self.learn
        assert learn.opt is not None
        learn.opt.zero_grad(set_to_none=True)  # the captured backward assigns its gradients
        batch, (learn.xb, learn.yb) = (learn.xb, learn.yb), self.inputs
        aware = [cb for cb in learn.cbs if isinstance(cb, CaptureAware)]
        for cb in aware:  # their hooks write to staging, as the captured kernels do
            cb.on_capture_start()
        with learn.sidelined_cbs(learn.cbs):
            outputs = list(without_host_reads(self.step))
        for cb in aware:
            cb.on_capture_end()
        learn.xb, learn.yb = batch
        for static, new in zip(tensors(self.outputs), tensors(outputs), strict=True):
            static.copy_(new)
        for p, g in zip(learn.model.parameters(), self.grads, strict=True):
            assert g is not None and p.grad is not None
            g.copy_(p.grad)
            p.grad = g


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),  # a bias before BN gets noise for gradient
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def image_dls(n_train: int = 44, bs: int = 8) -> li.DataLoaders:
    """5 full training batches of 8 and a short one of 4; 2 validation batches."""
    g = torch.Generator().manual_seed(1)
    x, xv = torch.randn(n_train, 1, 6, 6, generator=g), torch.randn(16, 1, 6, 6, generator=g)
    y, yv = torch.randint(0, 3, (n_train,), generator=g), torch.randint(0, 3, (16,), generator=g)
    return li.DataLoaders.from_tensors(x, y, xv, yv, bs=bs)


def fit(graph: li.CudaGraph | None, epochs: int = 2, cbs: Sequence[li.Callback] = ()) -> li.Learner:
    torch.manual_seed(0)
    # foreach=True as on a GPU (where it is the default): its path differs from the CPU one.
    adam = functools.partial(torch.optim.Adam, betas=(0.9, 0.99), foreach=True)
    all_cbs = [*cbs, *([graph] if graph is not None else [])]
    learn = li.Learner(bn_net(), image_dls(), lr=1e-2, opt_func=adam, cbs=all_cbs)
    learn.progress_bar.rows = False
    learn.fit_one_cycle(epochs)  # schedules lr and beta1 at every step
    return learn


def graph(warmup: int = 2) -> li.CudaGraph:
    return li.CudaGraph(warmup=warmup, backend=PythonGraph)


def test_graph_training_equals_eager_training_step_by_step() -> None:
    eager, cg = fit(None), graph()
    graphed = fit(cg)
    assert cg.replays == 8  # 3 + 5 full batches after 2 warm-up steps
    assert cg.eager_steps == 4  # the warm-up steps and the two short batches
    np.testing.assert_allclose(graphed.recorder.losses, eager.recorder.losses, rtol=1e-5)
    for a, b in zip(
        graphed.model.state_dict().values(), eager.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)  # lr: f32 tensor, not f64
    assert graphed.avg_stats.last.values == pytest.approx(eager.avg_stats.last.values, rel=1e-5)
    assert graphed.step_runner is None  # the learner is itself again after the fit


def test_lr_and_beta1_reach_the_step_through_device_tensors() -> None:
    opt = torch.optim.Adam(nn.Linear(2, 2).parameters(), lr=0.1, betas=(0.9, 0.99))
    hypers = GraphHypers(opt, torch.device("cpu"), live_beta1=True)
    group = opt.param_groups[0]
    group["lr"], group["betas"] = 0.05, (0.8, 0.99)
    hypers.refresh()
    with hypers.installed():
        assert isinstance(group["lr"], Tensor) and float(group["lr"]) == pytest.approx(0.05)
        beta1, beta2 = group["betas"]
        assert float(beta1) == pytest.approx(0.8) and beta2 == 0.99  # beta2 stays a number
        assert group["foreach"] is False  # the multi-tensor path would read beta1 on the host
    assert group["lr"] == 0.05 and group["betas"] == (0.8, 0.99)  # floats again outside
    group["betas"] = (0.8, 0.9)
    with pytest.raises(li.LookinsideError, match=r"beta2 changed from 0\.99 to 0\.9"):
        hypers.refresh()


def test_the_stand_in_catches_a_step_that_reads_the_host() -> None:
    """The control for every test here: Adam's multi-tensor path with a tensor beta1 reads it
    on the host (a real capture would fail), and the stand-in says so."""
    model = nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters(), betas=(0.9, 0.99), foreach=True, capturable=True)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()  # the state exists
    opt.param_groups[0]["betas"] = (torch.tensor(0.9), torch.tensor(0.99))
    with pytest.raises(AssertionError, match="read a tensor on the host"):
        without_host_reads(opt.step)


def test_a_baked_hyper_parameter_that_changes_is_an_error() -> None:
    learn = li.Learner(bn_net(), image_dls(), lr=0.1, cbs=[graph()])  # SGD: lr is baked in
    learn.progress_bar.rows = False
    with pytest.raises(li.LookinsideError, match=r"lr changed .* baked it in"):
        learn.fit_one_cycle(1)
    assert learn.step_runner is None


def test_a_constant_lr_with_sgd_is_fine() -> None:
    learn = li.Learner(bn_net(), image_dls(), lr=0.1, cbs=[graph(warmup=1)])
    learn.progress_bar.rows = False
    learn.fit(1)
    assert learn.cuda_graph.replays == 4


def test_events_inside_the_step_fire_at_capture_only() -> None:
    counts: dict[str, int] = {}

    def count(name: str) -> Callable[[li.Learner], None]:
        def fn(learn: li.Learner) -> None:
            if learn.training:
                counts[name] = counts.get(name, 0) + 1

        return fn

    spy = li.LambdaCallback(
        before_batch=count("before_batch"),
        after_pred=count("after_pred"),
        after_step=count("after_step"),
        after_batch=count("after_batch"),
    )
    fit(graph(), cbs=[spy])
    # 12 batches; the step's events: 2 warm-up, 1 capture, 2 short batches.
    assert counts == {"before_batch": 12, "after_batch": 12, "after_pred": 5, "after_step": 5}


def test_telemetry_under_the_graph_equals_eager_telemetry() -> None:
    eager = fit(None, cbs=[li.ActivationStats(grads=True)]).activation_stats.telemetry
    graphed = fit(graph(), cbs=[li.ActivationStats(grads=True)]).activation_stats.telemetry
    np.testing.assert_array_equal(graphed.steps, eager.steps)
    assert [s.name for s in graphed.specs] == [s.name for s in eager.specs]
    for name in ("values", "hist", "losses"):  # every statistic, the details included
        np.testing.assert_allclose(getattr(graphed, name), getattr(eager, name), rtol=1e-4,
                                   atol=1e-5, err_msg=name)  # fmt: skip


def test_the_default_backend_needs_cuda() -> None:
    learn = li.Learner(bn_net(), image_dls(), cbs=[li.CudaGraph()])
    with pytest.raises(li.LookinsideError, match="needs a CUDA GPU"):
        learn.fit(1)


def test_fp16_scaler_cannot_be_captured() -> None:
    learn = li.Learner(bn_net(), image_dls(), cbs=[li.MixedPrecision("fp16"), graph()])
    with pytest.raises(li.LookinsideError, match="gradient scaler"):
        learn.fit(1)


def test_warmup_must_be_positive() -> None:
    with pytest.raises(li.LookinsideError, match="warm-up"):
        li.CudaGraph(warmup=0)
