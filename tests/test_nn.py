"""lookinside.nn: Lambda, flatten, GeneralRelu, init_cnn."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lookinside as li
from lookinside.nn import GeneralRelu, Lambda, flatten, init_cnn


def test_flatten_and_lambda() -> None:
    x = torch.randn(4, 3, 1, 1)
    assert flatten(x).shape == (4, 3)
    layer = Lambda(flatten)
    assert torch.equal(layer(x), x.view(4, 3)) and "flatten" in repr(layer)


@pytest.mark.parametrize(
    ("leak", "sub", "maxv"), [(None, None, None), (0.1, 0.4, 6.0), (0.2, None, 1.0)]
)
def test_general_relu_matches_its_formula(
    leak: float | None, sub: float | None, maxv: float | None
) -> None:
    x = torch.linspace(-10, 10, 101)
    expected = F.leaky_relu(x, leak) if leak else F.relu(x)
    expected = expected - (sub or 0)
    if maxv is not None:
        expected = expected.clamp(max=maxv)
    assert torch.allclose(GeneralRelu(leak, sub, maxv)(x), expected)


def test_lesson_general_relu_maps_zero_to_its_floor() -> None:
    act = GeneralRelu(0.1, 0.4, 6.0)
    assert act(torch.zeros(1)).item() == pytest.approx(-0.4) == act.floor
    assert act(torch.tensor([100.0])).item() == 6.0


def test_init_cnn_leaves_linear_layers_alone() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2))
    linear_before = model[1].weight.clone()
    assert init_cnn(model) is model
    assert torch.equal(model[1].weight, linear_before) and model[0].bias.abs().max() == 0
    assert li.nn.make_activation("relu").__class__ is nn.ReLU
