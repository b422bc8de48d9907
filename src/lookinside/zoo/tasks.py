"""The zoo's data: a slice of the embedded MNIST (optionally raw, relabelled or multi-label),
and a synthetic token task that an LSTM, a GRU or a Transformer learns in seconds."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..data import DataLoaders
from ..datasets import load_mnist

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the [0, 1] training pixels


@functools.lru_cache(maxsize=1)
def _mnist() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return load_mnist()


def mnist(
    n_train: int = 4000,
    n_valid: int = 1000,
    bs: int = 64,
    raw: bool = False,
    shuffle_labels: bool = False,
    multilabel: bool = False,
) -> DataLoaders:
    """The first `n_train` training and `n_valid` test images (normalised, or `raw` 0-255).

    `shuffle_labels` pairs the training images with a permutation of their labels (nothing
    left to learn); `multilabel` replaces each digit by three yes/no targets (even, above 4,
    has a loop: 0, 6, 8, 9) for a sigmoid output and binary cross-entropy.
    """
    x, y, xv, yv = _mnist()
    x, y, xv, yv = x[:n_train], y[:n_train], xv[:n_valid], yv[:n_valid]
    if raw:
        x, xv = ((t * MNIST_STD + MNIST_MEAN) * 255 for t in (x, xv))
    if shuffle_labels:
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    if multilabel:
        y, yv = digit_traits(y), digit_traits(yv)
    return DataLoaders.from_tensors(x, y, xv, yv, bs=bs)


def digit_traits(y: Tensor) -> Tensor:
    """(N,) digits -> (N, 3) float targets: even, greater than 4, drawn with a loop."""
    loops = (y == 0) | (y == 6) | (y == 8) | (y == 9)
    return torch.stack([y % 2 == 0, y > 4, loops], 1).float()


def tokens(
    n_train: int = 4000,
    n_valid: int = 1000,
    bs: int = 64,
    seq_len: int = 12,
    vocab: int = 24,
    n_classes: int = 4,
    shuffle_labels: bool = False,
    seed: int = 0,
) -> DataLoaders:
    """Sequences of `seq_len` tokens; the label is which of the `n_classes` signal tokens
    (0 .. n_classes-1) appears in the sequence, three times, among noise tokens."""
    g = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[Tensor, Tensor]:
        x = torch.randint(n_classes, vocab, (n, seq_len), generator=g)
        y = torch.randint(0, n_classes, (n,), generator=g)
        where = torch.rand(n, seq_len, generator=g).argsort(1)[:, :3]
        x.scatter_(1, where, y[:, None].expand(-1, 3))
        return x, y

    (x, y), (xv, yv) = make(n_train), make(n_valid)
    if shuffle_labels:
        y = y[torch.randperm(n_train, generator=g)]
    return DataLoaders.from_tensors(x, y, xv, yv, bs=bs)
