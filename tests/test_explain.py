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
        match=r"layer 0 \(Linear\) expects inputs of shape \(N, 4\) but got \(4, 5\)",
    ):
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
