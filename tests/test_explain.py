"""Errors about the user's data, in one sentence naming what is wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lookinside as li

from .conftest import tiny_dls


def test_wrong_input_shape_names_the_layer_and_both_shapes() -> None:
    x, y = torch.randn(8, 3, 28, 28), torch.randint(0, 10, (8,))  # 3 channels, cnn wants 1
    learn = li.Learner(li.cnn(), li.DataLoaders.from_tensors(x, y, bs=4), default_cbs=False)
    with pytest.raises(li.LookinsideError) as info:
        learn.fit(1)
    assert (
        str(info.value)
        == "layer 0.0 (Conv2d) expects inputs of shape (N, 1, H, W) but got (4, 3, 28, 28)."
    )
    assert isinstance(info.value.__cause__, RuntimeError)


def test_linear_layer_shape() -> None:
    learn = li.Learner(
        nn.Sequential(nn.Linear(4, 3)), tiny_dls(), default_cbs=False
    )  # data has 5 features
    with pytest.raises(
        li.LookinsideError,
        match=r"layer 0 \(Linear\) expects inputs of shape \(\.\.\., 4\) but got \(4, 5\)",
    ):
        learn.fit(1)


class Recurrent(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.rnn, self.fc = nn.LSTM(10, 16, batch_first=True), nn.Linear(16, 3)
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.inner(x))
        return self.fc(out[:, -1])


def test_a_recurrent_layers_shape_and_an_unknown_layers_words() -> None:
    x, y = torch.randn(16, 7, 5), torch.randint(0, 3, (16,))  # 5 features, the LSTM wants 10
    dls = li.DataLoaders.from_tensors(x, y, bs=8)
    learn = li.Learner(Recurrent(nn.Identity()), dls, default_cbs=False)
    with pytest.raises(li.LookinsideError) as info:
        learn.fit(1)
    assert str(info.value) == ("layer rnn (LSTM) expects inputs of shape (N, L, 10) "
                               "(batch_first=True) but got (8, 7, 5).")  # fmt: skip

    class Refuses(nn.Module):  # a layer explain knows nothing of
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(-1, 3, 3)  # 35 values an item: no such view

    learn = li.Learner(Recurrent(Refuses()), dls, default_cbs=False)
    said = r"layer inner \(Refuses\) refused inputs of shape \(8, 7, 5\): shape '\[-1, 3, 3\]'"
    with pytest.raises(li.LookinsideError, match=said):
        learn.fit(1)


def test_targets_out_of_range_for_the_number_of_classes() -> None:
    dls = tiny_dls()
    dls.train.tensors = (dls.train.tensors[0], dls.train.tensors[1] + 5)  # type: ignore[attr-defined]
    learn = li.Learner(nn.Linear(5, 3), dls, default_cbs=False)
    with pytest.raises(
        li.LookinsideError,
        match=r"targets run from 5 to 7, but the model gives 3 classes \(0 to 2\)",
    ):
        learn.fit(1)


def test_other_errors_pass_through_unchanged() -> None:
    class Broken(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("a bug in the model")

    with pytest.raises(RuntimeError, match="a bug in the model"):
        li.Learner(Broken(5, 3), tiny_dls(), default_cbs=False).fit(1)
