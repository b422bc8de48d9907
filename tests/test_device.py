"""DeviceCallback and to_device."""

import torch

import lookinside as li
from lookinside.callbacks import to_device

from .conftest import tiny_dls, tiny_model


def test_to_device_moves_nested_batches() -> None:
    batch = {"a": (torch.zeros(1), [torch.ones(1)]), "b": 3}
    moved = to_device(batch, torch.device("cpu"))
    assert isinstance(moved["a"], tuple) and isinstance(moved["a"][1], list)
    assert moved["b"] == 3 and torch.equal(moved["a"][1][0], torch.ones(1))


def test_default_device_is_the_loaders_device() -> None:
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[li.DeviceCallback()], default_cbs=False)
    learn.fit(1)
    assert learn.device_callback.resolved == torch.device("cpu")
    assert repr(learn.device_callback) == "DeviceCallback"


def test_explicit_device_wins_and_shows_in_repr() -> None:
    cb = li.DeviceCallback("cpu")
    li.Learner(tiny_model(), tiny_dls(), cbs=[cb], default_cbs=False).fit(1)
    assert cb.resolved == torch.device("cpu") and repr(cb) == "DeviceCallback(cpu)"


def test_default_device_here_is_cpu() -> None:
    assert li.default_device() == torch.device("cpu")  # CI has no GPU
