"""The learning-rate finder: the sweep, the stop rule, the suggestion, and no trace left."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import lookinside as li
from lookinside.lr_finder import SUGGESTION_RULE, suggest_lr

from .conftest import tiny_dls, tiny_model


def momentum_learner() -> li.Learner:
    opt = lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)  # noqa: E731
    learn = li.Learner(
        tiny_model(), tiny_dls(n_train=64, bs=4), opt_func=opt, metrics=[li.accuracy]
    )
    learn.progress_bar.rows = False
    return learn


def test_lr_find_leaves_no_trace() -> None:
    learn = momentum_learner()
    learn.fit(1)  # the optimizer now has momentum buffers; the recorder has a history
    params = [p.detach().clone() for p in learn.model.parameters()]
    opt_state = {k: v["momentum_buffer"].clone() for k, v in enumerate(learn.opt.state.values())}  # type: ignore[union-attr]
    lrs_before = learn.recorder.lrs.copy()
    history = list(learn.avg_stats.history)
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())

    result = learn.lr_find(num_it=30)

    assert len(result.lrs) > 5
    assert all(torch.equal(a, b) for a, b in zip(params, learn.model.parameters(), strict=True))
    after = {k: v["momentum_buffer"] for k, v in enumerate(learn.opt.state.values())}  # type: ignore[union-attr]
    assert all(torch.equal(opt_state[k], after[k]) for k in opt_state)
    assert learn.opt.param_groups[0]["lr"] == 0.1  # type: ignore[union-attr]
    assert torch.equal(rng[0], torch.get_rng_state())
    assert np.array_equal(rng[1], np.random.get_state()[1]) and rng[2] == random.getstate()
    assert np.array_equal(lrs_before, learn.recorder.lrs)
    assert learn.avg_stats.history == history
    assert learn.epoch == 0 and learn.train_iter == 16


def test_a_fit_after_lr_find_trains_exactly_as_without_it() -> None:
    torch.manual_seed(1)
    a = momentum_learner()
    torch.manual_seed(1)
    b = momentum_learner()
    torch.manual_seed(5)  # the loaders shuffle with the global generator
    a.fit(2)
    torch.manual_seed(5)
    b.lr_find(num_it=20)
    b.fit(2)
    assert a.opt is not None and b.opt is not None
    assert all(
        torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True)
    )
    assert [h.values for h in a.avg_stats.history] == [h.values for h in b.avg_stats.history]


def test_lr_find_on_a_fresh_learner_leaves_no_optimizer() -> None:
    learn = momentum_learner()
    learn.lr_find(num_it=10)
    assert learn.opt is None


def test_sweep_is_exponential_and_stops_when_the_loss_diverges() -> None:
    learn = li.Learner(tiny_model(), tiny_dls(n_train=400, bs=4))
    result = learn.lr_find(start_lr=1e-4, end_lr=1e4, num_it=100)
    ratios = result.lrs[1:] / result.lrs[:-1]
    assert np.allclose(ratios, (1e8) ** (1 / 99))
    assert len(result.lrs) < 100 and "4x its best" in result.stop_reason


def learnable_dls() -> li.DataLoaders:
    """Labels a linear map of the inputs decides: a loss the sweep brings down."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(512, 5, generator=g), torch.randn(5, 3, generator=g)
    y = (x @ w).argmax(1)
    return li.DataLoaders.from_tensors(x, y, x[:64], y[:64], bs=16)


def test_sweep_stops_on_a_non_finite_loss_and_still_suggests() -> None:
    """A NaN ends the sweep; the suggestion comes from the finite losses before it."""

    def explode(learn: li.Learner) -> None:
        if learn.training and learn.train_iter == 95:
            learn.loss = learn.loss * float("nan")  # type: ignore[operator]

    torch.manual_seed(0)
    learn = li.Learner(tiny_model(), learnable_dls(), cbs=[li.LambdaCallback(after_loss=explode)])
    result = learn.lr_find(num_it=100)
    assert len(result.raw_losses) == 96 and result.stop_reason == "the loss became non-finite"
    assert result.suggestion is not None and result.suggestion < result.lrs[95]


def test_works_with_adam_and_several_groups() -> None:
    model = tiny_model()

    def opt(params: object, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            [{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=lr
        )

    learn = li.Learner(model, tiny_dls(n_train=200, bs=4), opt_func=opt)
    result = learn.lr_find(num_it=40, end_lr=1.0)
    assert len(result.lrs) > 10 and learn.opt is None


def u_curve(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    lrs = np.logspace(-6, 1, n)
    x = np.log10(lrs)
    return lrs, 2 - 1.5 / (1 + np.exp(-3 * (x + 3))) + np.where(x > -0.5, (x + 0.5) ** 2 * 4, 0)


def test_suggestion_on_a_u_shaped_curve_lands_in_the_descending_part() -> None:
    lrs, losses = u_curve()
    lr, rule = suggest_lr(lrs, losses)
    assert rule == SUGGESTION_RULE
    assert lr is not None and lrs[0] < lr < lrs[int(np.argmin(losses))]
    assert 1e-4 < lr < 1e-2  # the steepest part of the drop, centred on 1e-3


def test_suggestion_is_shift_invariant_so_negative_losses_work() -> None:
    lrs, losses = u_curve()
    assert suggest_lr(lrs, losses - 10)[0] == suggest_lr(lrs, losses)[0]


def test_suggestion_fallbacks_for_short_or_broken_sweeps() -> None:
    assert suggest_lr(np.array([1e-3]), np.array([1.0])) == (
        None,
        "too few finite losses to suggest an lr",
    )
    lrs, cliff = np.logspace(-7, 1, 40), np.r_[[3.0] * 30, 1.0, np.nan, [0.1] * 8]
    lr, rule = suggest_lr(lrs, cliff)  # the NaN ends the curve: its minimum is 1.0
    assert lr == pytest.approx(lrs[30] / 10) and "/ 10 (a cliff)" in rule


def smoothed(raw: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """The finder's smoothing: a debiased exponential moving average."""
    avg, out = 0.0, []
    for i, value in enumerate(raw, 1):
        avg = beta * avg + (1 - beta) * value
        out.append(avg / (1 - beta**i))
    return np.array(out)


def test_no_suggestion_when_the_loss_never_descends() -> None:
    """A rising curve has no lr to suggest: the rule says why instead of handing back one of
    the sweep's first lrs. Nor, but for a few, has the smoothed noise of a loss that does
    not move (an exponential average makes its wanderings look like trends)."""
    lrs = np.logspace(-7, 1, 100)
    lr, rule = suggest_lr(lrs, np.linspace(1.0, 3.0, 100))
    assert lr is None and rule.startswith("the smoothed loss never fell clearly below")
    noise = [smoothed(2.3 + np.random.default_rng(seed).normal(0, 0.1, 100)) for seed in range(100)]
    assert sum(suggest_lr(lrs, losses)[0] is not None for losses in noise) <= 10


CURVES = json.loads((Path(__file__).parent / "data" / "lr_find_curves.json").read_text())["curves"]


@pytest.mark.parametrize("name", sorted(CURVES))
def test_recorded_sweeps_suggest_near_the_steepest_descent_after_the_warm_up(name: str) -> None:
    """On sweeps recorded from real training (a fresh CNN; one trained an epoch; one trained
    three, whose loss is flat until it dips and explodes), the suggestion lies within a factor
    10 of the steepest descent after the smoothing's warm-up (its first 25 steps, whose noise
    the old rule took for the steepest descent: it suggested 1e-07)."""
    lrs, losses = (np.array(CURVES[name][k]) for k in ("lrs", "losses"))
    lr, rule = suggest_lr(lrs, losses)
    n = int(np.argmax(~np.isfinite(losses))) or len(losses)
    low = 25 + int(np.argmin(losses[25:n]))
    drops = losses[25 : low - 4] - losses[30 : low + 1]  # over 5 steps (0.4 of a decade)
    i = 25 + int(np.argmax(drops))
    steepest = np.sqrt(lrs[i] * lrs[i + 5])
    assert rule == SUGGESTION_RULE and lr is not None and steepest / 10 <= lr <= steepest * 10


def test_noise_at_the_start_of_the_sweep_is_not_a_descent() -> None:
    """The smoothing's first steps are nearly raw losses: a lucky low one there (which the
    steepest-descent rule took for the steepest drop, suggesting the sweep's first lr) is
    ignored; the suggestion lies in the real descent, short of the minimum."""
    lrs, losses = u_curve()
    losses = losses.copy()
    losses[:4] = losses[0] + np.array([0.3, -0.2, 0.25, -0.1])
    lr, rule = suggest_lr(lrs, losses)
    assert rule == SUGGESTION_RULE and lr == suggest_lr(*u_curve())[0]
    assert lr is not None and 1e-4 < lr < lrs[int(np.argmin(losses))] / 10


def test_result_plot_marks_the_suggestion() -> None:
    torch.manual_seed(0)
    result = li.Learner(tiny_model(), learnable_dls()).lr_find(num_it=100)
    assert result.rule == SUGGESTION_RULE
    fig = result.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.lines) == 2
    assert "suggestion" in result._repr_html_()


def test_bad_arguments() -> None:
    learn = li.Learner(tiny_model(), tiny_dls())
    with pytest.raises(li.LookinsideError, match="start_lr < end_lr"):
        learn.lr_find(start_lr=1.0, end_lr=0.1)
    with pytest.raises(li.LookinsideError, match="num_it of at least 2"):
        learn.lr_find(num_it=1)


def test_a_result_reads_in_one_line() -> None:
    result = momentum_learner().lr_find(num_it=30)
    text = repr(result)
    assert len(text) < 500 and text.startswith("LRFindResult(suggestion ") and "steps from" in text
