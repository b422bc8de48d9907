"""The lesson's math as functions (`lookinside.functional`): statistics, softmax, losses, metrics.

Each is written from its formula and tested against PyTorch as the oracle.
"""

from __future__ import annotations

import torch
from torch import Tensor

Dim = int | tuple[int, ...] | None


def _n(x: Tensor, dim: Dim) -> int:
    """How many values each reduction over `dim` averages."""
    if dim is None:
        return x.numel()
    dims = (dim,) if isinstance(dim, int) else dim
    n = 1
    for d in dims:
        n *= x.shape[d]
    return n


def _mean(x: Tensor, dim: Dim, keepdim: bool) -> Tensor:
    return x.mean() if dim is None and not keepdim else x.mean(dim=dim, keepdim=keepdim)


def var(
    x: Tensor,
    dim: Dim = None,
    keepdim: bool = False,
    unbiased: bool = False,
    one_pass: bool = False,
) -> Tensor:
    """Variance: the mean of squared deviations from the mean, E[(X - E[X])²].

    `one_pass=True` uses the lesson's shortcut E[X²] - E[X]², which reads the data once but
    subtracts two large, nearly equal numbers when the data sit far from zero (values near
    1e4 with a spread of 1 lose most of float32's digits, and can even come out negative).
    The default, two passes (mean first, then deviations), keeps them. `unbiased=True`
    divides by n - 1 instead of n (Bessel's correction, as `torch.var`'s default).
    """
    if one_pass:
        v = _mean(x * x, dim, keepdim) - _mean(x, dim, keepdim) ** 2
    else:
        m = x.mean(dim=dim, keepdim=True) if dim is not None else x.mean()
        v = _mean((x - m) ** 2, dim, keepdim)
    if unbiased:
        n = _n(x, dim)
        v = v * (n / max(n - 1, 1))
    return v


def std(x: Tensor, dim: Dim = None, keepdim: bool = False, unbiased: bool = False) -> Tensor:
    """Standard deviation: the square root of `var`."""
    return var(x, dim, keepdim, unbiased).sqrt()


def mean_abs_dev(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Mean absolute deviation, E[|X - E[X]|]: like std, but less swayed by outliers."""
    m = x.mean(dim=dim, keepdim=True) if dim is not None else x.mean()
    return _mean((x - m).abs(), dim, keepdim)


def cov(
    x: Tensor, y: Tensor, dim: Dim = None, keepdim: bool = False, unbiased: bool = False
) -> Tensor:
    """Covariance E[(X - E[X])(Y - E[Y])] (= E[XY] - E[X]E[Y]); cov(x, x) is var(x)."""
    mx = x.mean(dim=dim, keepdim=True) if dim is not None else x.mean()
    my = y.mean(dim=dim, keepdim=True) if dim is not None else y.mean()
    c = _mean((x - mx) * (y - my), dim, keepdim)
    if unbiased:
        n = _n(x, dim)
        c = c * (n / max(n - 1, 1))
    return c


def corr(x: Tensor, y: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Pearson correlation cov(X, Y) / (σ_X σ_Y), in [-1, 1]: covariance with the scale removed."""
    return cov(x, y, dim, keepdim) / (std(x, dim, keepdim) * std(y, dim, keepdim))


def logsumexp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """log Σ exp(x), computed as m + log Σ exp(x - m) with m = max(x): no overflow at ±1e4."""
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # rows of -inf stay -inf
    out = m + (x - m).exp().sum(dim=dim, keepdim=True).log()
    return out if keepdim else out.squeeze(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log softmax(x) = x - logsumexp(x)."""
    return x - logsumexp(x, dim=dim, keepdim=True)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x_i) / Σ_j exp(x_j): picks one class and makes it big. Use sigmoid instead when an
    item may hold none or several classes (see `accuracy_multi`)."""
    return log_softmax(x, dim=dim).exp()


def nll_loss(log_probs: Tensor, target: Tensor) -> Tensor:
    """Negative log likelihood: -mean of each row's log-probability at its target class.

    `log_probs` has shape (N, C); `target` holds N class indices.
    """
    return -log_probs.gather(1, target[:, None]).mean()


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """`nll_loss(log_softmax(logits), target)`: the multi-class classification loss."""
    return nll_loss(log_softmax(logits, dim=1), target)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor) -> Tensor:
    """Mean of -[y log σ(x) + (1 - y) log(1 - σ(x))], computed stably as
    max(x, 0) - x·y + log(1 + exp(-|x|)): one independent yes/no per class."""
    return (logits.clamp_min(0) - logits * target + (-logits.abs()).exp().log1p()).mean()


def accuracy(pred: Tensor, target: Tensor) -> Tensor:
    """Fraction of rows whose largest logit is at the target class, as a 0-d tensor (no sync)."""
    return (pred.argmax(dim=-1) == target).float().mean()


def accuracy_multi(
    pred: Tensor, target: Tensor, thresh: float = 0.5, sigmoid: bool = True
) -> Tensor:
    """Multi-label accuracy: the fraction of (item, class) pairs where σ(pred) > thresh agrees
    with the 0/1 target; for items holding none or several classes."""
    probs = pred.sigmoid() if sigmoid else pred
    return ((probs > thresh) == target.bool()).float().mean()
