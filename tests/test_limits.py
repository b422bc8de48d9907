"""Limits checked before anything is allocated: labels and memory."""

from __future__ import annotations

import pytest
import torch

import lookinside.limits as limits
from lookinside.errors import LookinsideError


def test_a_model_too_large_for_memory_is_refused_before_allocating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The estimate: parameters and each block's outputs, with gradients; a model that fits
    passes."""
    monkeypatch.setattr(limits, "_free_memory", lambda device: 2**30)  # 1 GiB free
    cpu = torch.device("cpu")
    limits.check_fits((8, 16, 32, 32), 64, (1, 28, 28), cpu)  # the lesson's CNN: a few MB
    with pytest.raises(LookinsideError, match=r"needs about \d+\.\d GiB, more than the 1\.0"):
        limits.check_fits((4096,) * 4, 4096, (1, 28, 28), cpu)


@pytest.mark.parametrize(
    ("train", "valid", "message"),
    [
        ([0, 1, 255], [0], "labels run up to 255, but 253 of the classes 0-255 never occur"),
        ([0.0, 1.0], [0.0], "labels must be integers, not torch.float32."),
        ([-1, 0], [0], "labels must be class numbers from 0 to 9999, not -1."),
        ([0, 2_000_000_000], [0], "labels must be class numbers from 0 to 9999, not 2000000000."),
        ([0, 1], [2], "the validation labels hold 2, which no training label is."),
    ],
)
def test_labels_are_the_class_numbers_0_to_k_minus_1(
    train: list[float], valid: list[float], message: str
) -> None:
    with pytest.raises(LookinsideError, match=message):
        limits.classes(torch.tensor(train), torch.tensor(valid), "d")
    assert limits.classes(torch.arange(10), torch.tensor([3, 9]), "d") == 10
