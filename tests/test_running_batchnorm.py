"""RunningBatchNorm: the lesson's small-batch fix, and the cases its code got wrong."""

from __future__ import annotations

import math

import pytest
import torch

from lookinside.nn import BatchNorm, RunningBatchNorm


def test_first_batch_is_normalised_by_its_own_mean_exactly() -> None:
    rbn = RunningBatchNorm(3)
    x = torch.randn(8, 3, 4, 4) * 2 + 5
    out = rbn(x)
    torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-3, rtol=0)


def test_momentum_depends_on_the_batch_size() -> None:
    rbn = RunningBatchNorm(1, mom=0.1)
    x = torch.ones(33, 1, 2, 2)
    rbn(x)
    mom1 = 1 - 0.9 / math.sqrt(32)
    assert mom1 == pytest.approx(0.84, abs=0.005)
    assert rbn.count.item() == pytest.approx(mom1 * 33 * 4)
    assert rbn.seen.item() == 132


def test_train_and_eval_outputs_converge_on_a_stationary_input() -> None:
    torch.manual_seed(0)
    rbn = RunningBatchNorm(4)
    for _ in range(300):
        rbn(torch.randn(2, 4, 6, 6) * 3 + 1)
    x = torch.randn(2, 4, 6, 6) * 3 + 1
    train_out = rbn(x)
    rbn.eval()
    eval_out = rbn(x)
    torch.testing.assert_close(train_out, eval_out, atol=0.05, rtol=0.05)
    assert eval_out.mean().abs() < 0.2 and (eval_out.std() - 1).abs() < 0.2


@pytest.mark.parametrize("bs", [1, 2])
def test_small_batches_give_finite_outputs_and_gradients(bs: int) -> None:
    rbn = RunningBatchNorm(3)
    for _ in range(5):
        x = torch.randn(bs, 3, 1, 1, requires_grad=True)  # one value per channel at bs 1
        out = rbn(x)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()  # type: ignore[arg-type]
    # BatchNorm at batch size 1 without spatial size: every output is its shift.
    torch.testing.assert_close(
        BatchNorm(3)(torch.randn(1, 3, 1, 1)), torch.zeros(1, 3, 1, 1), atol=1e-5, rtol=0
    )


def test_eval_before_any_training_is_the_identity_like_a_fresh_batchnorm() -> None:
    rbn = RunningBatchNorm(3).eval()
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(rbn(x), x / math.sqrt(1 + 1e-5))


def test_variance_is_clamped_while_few_values_are_seen() -> None:
    rbn = RunningBatchNorm(1)
    x = torch.tensor([[[[1.0]]], [[[1.001]]]])  # 2 values, a tiny variance
    out = rbn(x)
    assert out.abs().max() < 0.01  # divided by sqrt(0.01), not by the tiny spread
