"""ParamScheduler and fit_one_cycle: the right value at each step, in every group."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import lookinside as li

from .conftest import tiny_dls, tiny_model


def two_group_learner(opt_func: object = torch.optim.SGD, **kw: object) -> li.Learner:
    model = tiny_model()

    def opt(params: object, lr: float) -> torch.optim.Optimizer:
        groups = [{"params": model[0].parameters()}, {"params": model[2].parameters()}]
        return opt_func(groups, lr=lr, **kw)  # type: ignore[operator]

    learn = li.Learner(model, tiny_dls(), opt_func=opt)
    learn.progress_bar.rows = False
    return learn


def test_one_schedule_for_every_group_at_each_step() -> None:
    learn = two_group_learner()
    learn.fit(2, cbs=[li.ParamScheduler("lr", li.sched_lin(1.0, 0.0))])
    expected = [1 - i / 6 for i in range(6)]  # pct_train at each of the 6 training batches
    np.testing.assert_allclose(learn.recorder.lrs, [[e, e] for e in expected])


def test_one_schedule_per_group_and_other_hyper_parameters() -> None:
    learn = two_group_learner(momentum=0.9, weight_decay=0.1)
    cbs = [
        li.ParamScheduler("lr", [li.sched_no(0.1), li.sched_lin(0.0, 0.6)]),
        li.ParamScheduler("weight_decay", li.sched_lin(0.0, 0.6)),
        li.ParamScheduler("momentum", li.sched_lin(0.9, 0.3)),
    ]
    learn.fit(1, cbs=cbs)
    rec = learn.recorder
    np.testing.assert_allclose(rec.lrs, [[0.1, 0.0], [0.1, 0.2], [0.1, 0.4]], atol=1e-12)
    assert rec.hyper("weight_decay")[:, 1].tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert rec.hyper("momentum")[:, 0].tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert rec.scheduled() == ["lr", "momentum", "weight_decay"]
    fig = rec.plot_sched()
    assert len(fig.axes) == 3


def test_momentum_moves_adams_first_beta() -> None:
    learn = two_group_learner(torch.optim.Adam, betas=(0.9, 0.99))
    learn.fit(1, cbs=[li.ParamScheduler("momentum", li.sched_lin(0.9, 0.6))])
    assert learn.opt is not None and learn.opt.param_groups[0]["betas"] == (0.7, 0.99)
    assert learn.recorder.hyper("momentum")[:, 0].tolist() == pytest.approx([0.9, 0.8, 0.7])


def test_errors_name_the_problem() -> None:
    learn = two_group_learner()
    with pytest.raises(li.LookinsideError, match="no hyper-parameter 'eps'"):
        learn.fit(1, cbs=[li.ParamScheduler("eps", li.sched_no(1.0))])
    with pytest.raises(li.LookinsideError, match="3 schedules for 2 parameter groups"):
        learn.fit(1, cbs=[li.ParamScheduler("lr", [li.sched_no(1.0)] * 3)])


def test_fit_one_cycle_warms_up_then_anneals_and_leaves_plain_sgd_momentum_alone() -> None:
    learn = li.Learner(tiny_model(), tiny_dls(n_train=400, bs=4))
    learn.progress_bar.rows = False
    learn.fit_one_cycle(1, lr_max=1.0)
    lrs = learn.recorder.lrs[:, 0]
    peak = int(lrs.argmax())
    assert lrs[0] == pytest.approx(0.04) and lrs.max() == pytest.approx(1.0, rel=1e-3)
    assert peak == pytest.approx(25, abs=1) and lrs[-1] < 0.001
    assert "momentum" not in learn.recorder.scheduled()
    assert not any(isinstance(cb, li.ParamScheduler) for cb in learn.cbs)  # fit-only callbacks


def test_fit_one_cycle_schedules_momentum_when_the_optimizer_uses_it() -> None:
    opt = functools.partial(torch.optim.SGD, momentum=0.9)
    learn = li.Learner(tiny_model(), tiny_dls(n_train=400, bs=4), opt_func=opt)
    learn.progress_bar.rows = False
    learn.fit_one_cycle(1, lr_max=0.1)
    mom = learn.recorder.hyper("momentum")[:, 0]
    assert mom[0] == pytest.approx(0.95) and mom.min() == pytest.approx(0.85, abs=1e-3)
