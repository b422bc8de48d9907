"""lookinside.functional against PyTorch as the oracle."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lookinside.functional as lf

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=6), elements=finite
)


@settings(max_examples=60, deadline=None)
@given(a=arrays, unbiased=st.booleans(), keepdim=st.booleans())
def test_statistics_match_torch_along_every_dim(
    a: np.ndarray, unbiased: bool, keepdim: bool
) -> None:
    x = torch.from_numpy(a)
    y = torch.from_numpy(a[::-1].copy()) * 0.5 + 1
    for dim in [None, *range(x.ndim)]:
        kw = {"dim": dim, "keepdim": keepdim}
        correction = int(unbiased)
        torch.testing.assert_close(
            lf.var(x, dim, keepdim, unbiased), torch.var(x, correction=correction, **kw)
        )
        torch.testing.assert_close(
            lf.std(x, dim, keepdim, unbiased), torch.std(x, correction=correction, **kw)
        )
        m = x.mean(dim=dim, keepdim=True) if dim is not None else x.mean()
        torch.testing.assert_close(lf.mean_abs_dev(x, dim, keepdim), (x - m).abs().mean(**kw))
        if dim is None:
            stacked = torch.stack([x.flatten(), y.flatten()])
            torch.testing.assert_close(
                lf.cov(x, y, unbiased=unbiased), torch.cov(stacked, correction=correction)[0, 1]
            )
            if x.std() > 1e-6 and y.std() > 1e-6:
                torch.testing.assert_close(lf.corr(x, y), torch.corrcoef(stacked)[0, 1])


def test_cov_of_x_with_itself_is_var_and_corr_is_bounded() -> None:
    x, y = torch.randn(100), torch.randn(100)
    torch.testing.assert_close(lf.cov(x, x), lf.var(x))
    assert lf.corr(x, 2 * x + 3).item() == pytest.approx(1.0)
    assert lf.corr(x, -x).item() == pytest.approx(-1.0)
    assert -1 <= lf.corr(x, y).item() <= 1


def test_one_pass_variance_loses_digits_far_from_zero_and_the_default_does_not() -> None:
    x = (torch.randn(10_000, dtype=torch.float64) + 1e4).float()  # spread 1, far from zero
    exact = torch.var(x.double(), correction=0).item()
    assert lf.var(x).item() == pytest.approx(exact, rel=1e-3)
    assert abs(lf.var(x, one_pass=True).item() - exact) > 0.1 * exact


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_softmax_family_matches_torch_and_is_stable(scale: float) -> None:
    x = torch.randn(16, 10) * scale
    torch.testing.assert_close(lf.logsumexp(x, dim=1), torch.logsumexp(x, dim=1))
    torch.testing.assert_close(lf.log_softmax(x), F.log_softmax(x, dim=-1))
    torch.testing.assert_close(lf.softmax(x, dim=0), F.softmax(x, dim=0))
    assert torch.isfinite(lf.log_softmax(x)).all()
    y = torch.randint(0, 10, (16,))
    torch.testing.assert_close(
        lf.nll_loss(F.log_softmax(x, 1), y), F.nll_loss(F.log_softmax(x, 1), y)
    )
    torch.testing.assert_close(lf.cross_entropy(x, y), F.cross_entropy(x, y))


def test_logsumexp_of_all_minus_infinity_is_minus_infinity() -> None:
    x = torch.full((2, 3), float("-inf"))
    assert torch.equal(lf.logsumexp(x, dim=1), torch.logsumexp(x, dim=1))


def test_cross_entropy_gradient_matches_torch() -> None:
    x1 = torch.randn(8, 5, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y = torch.randint(0, 5, (8,))
    lf.cross_entropy(x1, y).backward()
    F.cross_entropy(x2, y).backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_binary_cross_entropy_with_logits_matches_torch(scale: float) -> None:
    x, y = torch.randn(8, 4) * scale, torch.randint(0, 2, (8, 4)).float()
    torch.testing.assert_close(
        lf.binary_cross_entropy_with_logits(x, y), F.binary_cross_entropy_with_logits(x, y)
    )


def test_accuracy_and_multi_label_accuracy() -> None:
    pred = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]])
    assert lf.accuracy(pred, torch.tensor([0, 1, 1])).item() == pytest.approx(2 / 3)
    logits = torch.tensor([[3.0, -3.0, 3.0], [-3.0, -3.0, -3.0]])  # the second item holds nothing
    target = torch.tensor([[1, 0, 1], [0, 0, 1]])
    assert lf.accuracy_multi(logits, target).item() == pytest.approx(5 / 6)
    assert lf.accuracy_multi(logits.sigmoid(), target, sigmoid=False).item() == pytest.approx(5 / 6)
