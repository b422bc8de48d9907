"""The lesson's CNN: shapes, initialisation, pickling."""

import io

import pytest
import torch
from torch import nn

import lookinside as li


def test_lesson_cnn_layers_and_spatial_sizes() -> None:
    model = li.cnn()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (1, 8, 5, 2),
        (8, 16, 3, 2),
        (16, 32, 3, 2),
        (32, 32, 3, 2),
    ]
    x = torch.randn(2, 1, 28, 28)
    sizes = []
    for block in model[:4]:
        x = block(x)
        sizes.append(x.shape[-1])
    assert sizes == [14, 7, 4, 2]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_kaiming_init_zeroes_biases_and_scales_weights() -> None:
    torch.manual_seed(0)
    model = li.cnn(nfs=(64, 64), init="kaiming")
    conv = model[1][0]
    fan_in = 64 * 3 * 3
    assert conv.bias.abs().max() == 0
    assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
    default = li.cnn(nfs=(64, 64), init="default")[1][0]
    assert default.bias.abs().max() > 0


def test_general_activation_and_uniform_init() -> None:
    model = li.cnn(act="general", init="kaiming_uniform")
    assert isinstance(model[0][1], li.nn.GeneralRelu)
    w = model[0][0].weight
    bound = (6 / ((1 + 0.1**2) * 25)) ** 0.5
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.9 * bound


def test_models_pickle_through_torch_save() -> None:
    buf = io.BytesIO()
    torch.save(li.cnn(), buf)  # a lambda inside the model would fail here
    assert buf.tell() > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown init"):
        li.cnn(init="xavier")
    with pytest.raises(ValueError, match="unknown activation"):
        li.cnn(act="tanh")
    with pytest.raises(ValueError, match="at least one"):
        li.cnn(nfs=())


def test_fast_cnn_shapes() -> None:
    from lookinside.models import fast_cnn

    model = fast_cnn()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert model[:4](torch.randn(2, 1, 28, 28)).shape == (2, 32, 12, 12)
