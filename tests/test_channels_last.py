"""ChannelsLast: weights and image batches change memory order, not values."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import lookinside as li


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def _fit(cbs: list[li.Callback]) -> li.Learner:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 2, 6, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
    learn = li.Learner(_conv_net(), li.DataLoaders.from_tensors(x, y, x, y, bs=8), cbs=cbs)
    learn.progress_bar.rows = False
    learn.fit(2)
    return learn


def test_weights_and_batches_are_channels_last_and_training_is_unchanged() -> None:
    seen: list[bool] = []

    def probe(learn: li.Learner) -> None:
        assert isinstance(learn.xb, Tensor)
        seen.append(learn.xb.is_contiguous(memory_format=torch.channels_last))

    # LambdaCallback's order is 0, after ChannelsLast's before_batch.
    learn = _fit([li.ChannelsLast(), li.LambdaCallback(before_batch=probe)])
    plain = _fit([])
    conv = learn.model[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert seen and all(seen)
    torch.testing.assert_close(learn.recorder.losses, plain.recorder.losses, rtol=1e-5, atol=0)
