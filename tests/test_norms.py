"""Normalisation layers against torch.nn as the oracle, in train and eval, buffers included."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lookinside as li
from lookinside.nn import NORMS, BatchNorm, GroupNorm, InstanceNorm, LayerNorm, make_norm

SHAPES = [(8, 6), (4, 6, 5), (4, 6, 7, 3), (2, 6, 2, 3, 4)]  # 0 to 3 spatial dims


def randomise_affine(ours: nn.Module, theirs: nn.Module | None = None) -> None:
    with torch.no_grad():
        ours.mults.uniform_(0.5, 1.5)
        ours.adds.uniform_(-1, 1)
        if theirs is not None:
            theirs.weight.copy_(ours.mults)
            theirs.bias.copy_(ours.adds)


def torch_batchnorm(ndim: int, nf: int) -> nn.Module:
    return {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[ndim](nf)


@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_matches_torch_in_train_and_eval_with_buffers_and_gradients(
    shape: tuple[int, ...],
) -> None:
    ours, theirs = BatchNorm(6), torch_batchnorm(len(shape), 6)
    randomise_affine(ours, theirs)
    for _ in range(3):
        x = torch.randn(*shape) * 3 + 2
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_a, out_b = ours(xa), theirs(xb)
        torch.testing.assert_close(out_a, out_b, rtol=1e-4, atol=1e-5)
        (out_a * torch.arange(out_a.numel()).view_as(out_a)).sum().backward()
        (out_b * torch.arange(out_b.numel()).view_as(out_b)).sum().backward()
        torch.testing.assert_close(
            xa.grad, xb.grad, rtol=1e-3, atol=1e-4
        )  # through the batch stats
        torch.testing.assert_close(ours.mults.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.means, theirs.running_mean)
    torch.testing.assert_close(ours.vars, theirs.running_var)  # the unbiased convention
    ours.eval(), theirs.eval()
    x = torch.randn(*shape)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


def test_batchnorm_running_stats_lerp_with_momentum() -> None:
    bn = BatchNorm(3, mom=0.1)
    x = torch.randn(10, 3, 4, 4) + 5
    bn(x)
    expected = 0.9 * torch.zeros(3) + 0.1 * x.mean((0, 2, 3))
    torch.testing.assert_close(bn.means, expected)


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_layer_instance_group_norms_match_torch_functional(shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape) * 2 + 1
    layer, inst, group = LayerNorm(6), InstanceNorm(6), GroupNorm(3, 6)
    for m in (layer, inst, group):
        randomise_affine(m)
    for mode in ("train", "eval"):
        for m in (layer, inst, group):
            m.train(mode == "train")
        torch.testing.assert_close(
            layer(x), F.group_norm(x, 1, layer.mults, layer.adds), rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(
            inst(x), F.instance_norm(x, weight=inst.mults, bias=inst.adds), rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(
            group(x), F.group_norm(x, 3, group.mults, group.adds), rtol=1e-4, atol=1e-5
        )
    torch.testing.assert_close(LayerNorm(6)(x), F.layer_norm(x, x.shape[1:]), rtol=1e-4, atol=1e-5)


def test_group_norm_relations_to_layer_and_instance_norm() -> None:
    x = torch.randn(4, 6, 5, 5)
    torch.testing.assert_close(GroupNorm(1, 6)(x), LayerNorm(6)(x))
    torch.testing.assert_close(GroupNorm(6, 6)(x), InstanceNorm(6)(x))


@pytest.mark.parametrize("name", list(NORMS))
def test_every_norm_round_trips_state_and_takes_float64(name: str) -> None:
    a, b = make_norm(name, 4), make_norm(name, 4)
    randomise_affine(a)
    a(torch.randn(8, 4, 3, 3) + 1)  # moves running statistics where there are any
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    a.eval(), b.eval()
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(a(x), b(x))
    out64 = a.double()(x.double())
    assert out64.dtype == torch.float64 and torch.isfinite(out64).all()


@pytest.mark.parametrize("name", list(NORMS))
def test_wrong_channel_count_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"\(N, 4, \.\.\.\), got \(2, 3, 5, 5\)"):
        make_norm(name, 4)(torch.randn(2, 3, 5, 5))


def test_registry_errors() -> None:
    with pytest.raises(ValueError, match="unknown norm 'weight'"):
        make_norm("weight", 4)
    with pytest.raises(ValueError, match="cannot be split"):
        GroupNorm(4, 6)
    assert make_norm("group", 6).groups == 3


def test_cnn_with_norm_puts_it_after_the_activation_and_drops_the_conv_bias() -> None:
    model = li.cnn((8, 16), norm="batch")
    conv, act, norm = model[0]
    assert conv.bias is None and isinstance(act, nn.ReLU) and isinstance(norm, BatchNorm)
