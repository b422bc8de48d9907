"""Recorder: per-step losses and per-group learning rates, and their plots."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

import lookinside as li

from .conftest import quiet_learner, tiny_dls, tiny_model


def test_records_each_training_step_loss_and_lr_per_group() -> None:
    model = tiny_model()
    seen: list[float] = []
    probe = li.LambdaCallback(
        after_loss=lambda learn: seen.append(learn.loss.item()) if learn.training else None
    )

    def two_groups(params: object, lr: float) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            [
                {"params": model[0].parameters(), "lr": lr},
                {"params": model[2].parameters(), "lr": lr / 10},
            ],
            lr=lr,
        )

    learn = li.Learner(
        model,
        tiny_dls(),
        lr=0.2,
        opt_func=two_groups,
        cbs=[li.Recorder(), probe],
        default_cbs=False,
    )
    learn.fit(2)
    assert learn.recorder.losses.dtype == np.float32
    np.testing.assert_allclose(learn.recorder.losses, seen, rtol=1e-6)
    np.testing.assert_allclose(learn.recorder.lrs, [[0.2, 0.02]] * 6)


def test_plots_return_figures_without_pyplot() -> None:
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[li.Recorder()], default_cbs=False)
    learn.fit(1)
    fig = learn.recorder.plot_loss()
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].lines[0].get_ydata()) == 3
    fig2 = Figure()
    ax = fig2.add_subplot()
    assert learn.recorder.plot_lr(ax=ax) is fig2
    assert list(ax.lines[0].get_ydata()) == [0.1] * 3
    low, high = ax.get_ylim()  # a constant lr, drawn as one: from 0, and said in the title
    assert low == 0.0 and high > 0.1 and ax.get_title() == "constant lr 0.1"


def test_a_schedule_keeps_its_own_axis() -> None:
    learn = quiet_learner()
    learn.fit_one_cycle(2, lr_max=0.1)
    ax = learn.recorder.plot_lr().axes[0]
    assert ax.get_title() == "" and ax.get_ylim()[0] > -0.1


def test_each_fit_starts_a_fresh_record() -> None:
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[li.Recorder()], default_cbs=False)
    learn.fit(1)
    learn.fit(1)
    assert len(learn.recorder.losses) == 3
